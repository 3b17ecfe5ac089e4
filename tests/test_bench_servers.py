"""benchmarks/bench_servers.py at its smoke size: every row printed, nothing left running.

No timing is asserted — the figures of one-second bursts mean nothing, and
timing assertions do not belong in the test suite. What is checked: the
samples and their twins start under their real servers (waitress, and
uvicorn with h11; httptools runs the same apps and is printed as not
selected), wrk's signed requests are all accepted (the benchmark fails on any
error or status ≥ 400), every row and budget line is printed (the reference
verifier's and the samples' views on it included), and no process it
started outlives it.
Needs ``wrk`` (``apt-get install wrk``): skipped without it, except under CI,
where .ci/run installs it. It is marked ``slow``: .ci/run runs it under its
first Python only (a minute or more, testing the harness, not the interpreter).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_servers.py"
TIMEOUT = 300  # about a minute on a 2-core box

#: The flavors the smoke run measures: both kinds of server. httptools is the h11
#: flavor's apps under another --http, printed as not selected (a minute saved).
FLAVORS = ("Flask/waitress", "FastAPI/uvicorn h11")
LEFT_OUT = "FastAPI/uvicorn httptools"
STORES = ("memory", "sqlite", "redis")
BUDGETS = [
    f"{flavor} + {what}"
    for flavor in FLAVORS
    for what in (
        "memory: throughput with ÷ bare",
        "sqlite: throughput with ÷ bare",
        "redis: added CPU ÷ (",
    )
]


def _processes_marked(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (inherited from the benchmark)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone already, or another user's
            continue
    return found


@pytest.mark.service
@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("wrk") is None and not os.environ.get("CI"),
    reason="wrk not installed: apt-get install wrk",
)
def test_smoke_size_prints_every_row_and_leaves_nothing_running() -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed, and CI must run the server benchmark (.ci/run)")
    marker = f"EDGECLAIMS_BENCH_TEST={uuid.uuid4().hex}"
    name, _, value = marker.partition("=")
    process = subprocess.Popen(
        [sys.executable, str(BENCH), "--size", "smoke", "--server", "waitress", "--server", "h11"],
        env={**os.environ, name: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: the benchmark stops its servers on the way out
        out, err = process.communicate(timeout=60)
        pytest.fail(f"bench_servers --size smoke took over {TIMEOUT} s:\n{out}\n{err}")
    assert process.returncode == 0, f"{out}\n{err}"

    for flavor in FLAVORS:
        for store in STORES:
            row = re.escape(f"{flavor} + {store}")
            assert re.search(rf"^  {row} +(\d+\.\d+× |skipped: )", out, re.M), (row, out)
    for flavor in FLAVORS:
        for store in ("memory", "sqlite"):
            row = re.escape(f"{flavor} reference + {store}")
            assert re.search(rf"^  {row} +(\d+\.\d+× |skipped: )", out, re.M), (row, out)
            info = re.escape(f"{flavor} reference verifier + {store}: throughput with ÷ bare")
            assert re.search(rf"^  {info} +(\d+\.\d+×  \(info: [+-]\d+ µs|skipped: )", out, re.M), (
                info,
                out,
            )
            row = re.escape(f"{flavor} sample on reference + {store}")
            assert re.search(rf"^  {row} +(\d+\.\d+× |skipped: )", out, re.M), (row, out)
            bound = re.escape(
                f"{flavor} the sample's views on the reference verifier + {store}:"
                " throughput with ÷ bare"
            )
            reach = r"\((reaches the budget|below the budget: out of reach); [+-]\d+ µs"
            assert re.search(rf"^  {bound} +(\d+\.\d+×  {reach}|skipped: )", out, re.M), (
                bound,
                out,
            )
    for flavor in FLAVORS:  # the round trip in the server, where the redis rows ran
        if re.search(rf"^  {re.escape(f'{flavor} + redis')} +skipped: ", out, re.M):
            continue
        row = re.escape(f"{flavor} bare SET NX PX")
        assert re.search(rf"^  {row} +\d+\.\d+× ", out, re.M), (row, out)
    peer_info = re.findall(r"one bare SET NX PX in this server [+-]?\d+ µs", out)
    measured = re.findall(r"redis: added CPU ÷ \(.*\) +\d+\.\d+×", out)
    assert len(peer_info) == len(measured), out
    for budget in BUDGETS:
        lines = [line for line in out.splitlines() if line.startswith(f"  {budget}")]
        assert len(lines) == 1, (budget, out)
        assert re.search(r"\((budget [≤≥] [\d.]+×, (within|OVER))\)$|skipped: ", lines[0])
    assert f"\n{LEFT_OUT}: not selected (--server)\n" in out, out
    if os.environ.get("CI"):  # CI installs redis-server
        assert "skipped" not in out, out
    assert _processes_marked(marker) == [], "bench_servers left processes running"


# -- choosing what to run (no server started) -----------------------------------------


def _bench_module() -> Any:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_servers
    finally:
        sys.path.remove(str(BENCH.parent))
    return bench_servers


def test_server_and_store_options_choose_rows() -> None:
    bench = _bench_module()
    assert [f.server_name for f in bench.FLAVORS] == ["waitress", "h11", "httptools"]
    assert [f.label for f in bench.selected_flavors(None)] == [*FLAVORS, LEFT_OUT]
    assert [f.label for f in bench.selected_flavors(["httptools", "waitress"])] == [
        "Flask/waitress",
        "FastAPI/uvicorn httptools",
    ]
    assert bench.unselected_stores(None) == {}
    assert bench.unselected_stores(["sqlite"]) == {
        "memory": bench.NOT_SELECTED,
        "redis": bench.NOT_SELECTED,
    }
