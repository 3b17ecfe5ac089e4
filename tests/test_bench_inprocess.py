"""benchmarks/bench_inprocess.py at its smoke size: it runs, and prints every row.

No timing is asserted (a smoke round of twenty requests means nothing). What
is checked: every app — the samples as shipped, their twins, the floor,
the reference verifier alone and in the samples' seat — answers a signed
request with the twin's document (the benchmark stops otherwise), and each
flavor prints a row for each app.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_inprocess.py"
APPS = ("bare twin", "floor", "reference verifier", "sample on reference", "sample")
FLAVORS = ("Flask (WSGI, called directly)", "FastAPI (ASGI, called directly)")


def test_smoke_size_prints_a_row_for_every_app_of_both_flavors() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--size", "smoke"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sections = re.split(r"^(?=\S)", done.stdout, flags=re.M)
    for flavor in FLAVORS:
        [section] = [s for s in sections if s.startswith(flavor)]
        for app in APPS:
            row = re.search(rf"^  {app} +[0-9.]+ +[-+][0-9.]+ +[0-9.]+×$", section, re.M)
            assert row is not None, f"{flavor}: no row for {app}:\n{section}"
