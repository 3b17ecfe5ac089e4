"""The samples as shipped under their real servers, next to the same apps without edgeclaims.

    python benchmarks/bench_servers.py --size full     # issue #14's figures: about 20 minutes
    python benchmarks/bench_servers.py --size smoke    # every row once, 1 s bursts: about 1 minute
    python benchmarks/bench_servers.py --server waitress --store sqlite   # one line, its rows

(on a 2-core VM). ``--server`` (waitress, h11, httptools) and ``--store``
(memory, sqlite, redis), each repeatable, measure only those flavors and
stores, with their twin, floor and reference rows, to follow one budget line
through a change in minutes; the others are printed as not selected.

Linux only — ``wrk`` and ``/proc``: ``apt-get install wrk``. The Redis rows
need ``redis-server`` on PATH (a throw-away one is started on a loopback
port), and are skipped with the reason otherwise.

Servers, each a process of its own on a free 127.0.0.1 port: the Flask
sample under ``waitress --threads=4``, the FastAPI sample under uvicorn (one
worker, ``--http h11``, and again with ``--http httptools`` when installed),
both as their READMEs start them (uvicorn's access log on). Each sample runs
with edgeclaims as shipped — its own edgeclaims.toml, copied with
``[edgeclaims.replay] store`` set to memory, sqlite (a file in a temporary
folder) or redis, named by ``EDGECLAIMS_CONFIG`` — next to its bare twin
(``server_rig.py``: the same framework, routes and JSON body for a fixed
identity, no edgeclaims) under the same server command.

The floor (issue #14: a budget no middleware could reach must be shown so,
in the same run): the twin again, behind a middleware of edgeclaims' shape
that reads the same environ keys or scope fields and identity headers,
removes those headers, sets the outcome keys and calls the app, deciding
nothing (``server_rig.py``). Its row and budget line show what any
middleware pays on these views before doing any work.

The reference verifier, the other end: the twin behind
``reference_verifier.py``, the least a verifier of these requests must do
(the signature base, HMAC-SHA256, the time window, the claims decoded, the
nonce recorded in a memory set or in a SQLite file the way edgeclaims'
store writes it), hard-wired to the samples' configuration and not meant
to be deployed. Its lines under each budget show how much of the distance
to the bare app verification itself takes on this machine.

The bound of each budget line: the sample as shipped — its own views with
the Flask extension's refusal hook and ``@identity_required``, or FastAPI's
``CurrentIdentity`` dependency — with edgeclaims' middleware swapped for the
reference verifier, which hands those views the Identity and Outcome they
read (``server_rig.py``). It is what the sample would cost if verifying cost
no more than the least any verifier's can; a budget it misses is out of
reach for every verifier behind these views, and its line says so.

Load: ``wrk`` (one thread, keep-alive) cycles through requests signed with
``EdgeSigner`` just before each burst, each with its own nonce, none sent
twice: a burst that runs out is run again with twice as many, and any
socket error or status ≥ 400 stops the benchmark. The twin gets the same
signed requests, so both servers parse the same bytes. Bursts are
interleaved — bare, with, bare, with, the order swapped every round — at
``--connections`` connections for throughput and server CPU (utime + stime
of the server process, all its threads, from ``/proc/<pid>/stat`` before
and after the burst, over the requests wrk counted), and at one connection
for p50/p99 latency (wrk's histogram). Every figure is the median over the
rounds; every ratio is the median of the ratios taken within each round.

Budgets (issue #14): throughput with ÷ without ≥ 0.9× (memory) and ≥ 0.85×
(sqlite) for Flask/waitress, ≥ 0.85× and ≥ 0.8× for FastAPI/uvicorn; with
Redis, the server CPU that edgeclaims adds per request ≤ 1.2× (the CPU a
bare ``SET NX PX`` round trip adds, plus the CPU the memory store's sample
adds). The round trip — redis-py, or ``redis.asyncio`` under uvicorn, the
clients the store uses there — is measured where the store runs: the twin
behind a middleware that does one ``SET NX PX`` of a fresh key a request
and nothing else (``server_rig.py``), its own row, against the twin in the
same round. The same round trip timed alone, in a process of its own, is
printed beside it: under waitress it is several times cheaper, because each
socket send and receive releases the GIL and, alone, no other thread takes
it. Verdicts are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from common import ROOT
from server_rig import VIEWER_DOCUMENT, Burst, Driver, Server

from edgeclaims.config import load_config
from edgeclaims.testing import EdgeSigner

BENCHMARKS = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
VIEWER = {"sub": "vera", "groups": ["viewers"]}
TARGET = "/whoami"
STORES = ("memory", "sqlite", "redis")
#: The row of the twin behind a do-nothing middleware of edgeclaims' shape (server_rig.py).
FLOOR = "floor"
#: The stores the reference verifier (reference_verifier.py) runs with, each a row of its own.
REFERENCE_STORES = ("memory", "sqlite")
#: The row of the twin behind one bare SET NX PX round trip a request (server_rig.py).
REDIS_PEER = "redis round trip"


def reference(store: str) -> str:
    """The row of the twin behind the reference verifier with this store."""
    return f"reference + {store}"


def sample_reference(store: str) -> str:
    """The row of the sample's own views on the reference verifier with this store."""
    return f"sample on reference + {store}"


@dataclass(frozen=True)
class Size:
    rounds: int
    seconds: int  # one throughput burst (wrk -d takes whole seconds)
    latency_seconds: int  # one burst at one connection
    warmup: bool  # an unmeasured burst of each kind per server first
    peer_calls: int  # bare SET NX PX round trips per round


SIZES = {
    "smoke": Size(rounds=1, seconds=1, latency_seconds=1, warmup=False, peer_calls=300),
    "full": Size(rounds=5, seconds=2, latency_seconds=1, warmup=True, peer_calls=2000),
}


@dataclass(frozen=True)
class Flavor:
    """One sample under one server, and how to start its twin there."""

    label: str
    sample: str
    server: tuple[str, ...]  # after `python`, {port} filled in, the app appended
    sample_app: tuple[str, ...]
    twin_app: tuple[str, ...]
    floor_app: tuple[str, ...]  # the twin behind a do-nothing middleware (server_rig.py)
    reference_app: tuple[str, ...]  # the twin behind reference_verifier.py
    sample_reference_app: tuple[str, ...]  # the sample, its middleware the reference's
    redis_peer_app: tuple[str, ...]  # the twin behind one bare SET NX PX a request
    budgets: dict[str, float]  # store → least throughput ratio
    redis_peer: str  # "sync" or "async": the client the store uses under this server
    requires: str | None = None  # a module the server needs

    @property
    def server_name(self) -> str:
        """What ``--server`` calls it: the label's last word (waitress, h11, httptools)."""
        return self.label.rsplit(maxsplit=1)[-1].rpartition("/")[2].lower()


WAITRESS = ("-m", "waitress", "--listen=127.0.0.1:{port}", "--threads=4")


def _uvicorn(http: str) -> tuple[str, ...]:
    return ("-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--http", http)


FLAVORS = (
    Flavor(
        "Flask/waitress",
        "flask_app",
        WAITRESS,
        ("app:app",),
        ("--call", "server_rig:flask_twin"),
        ("--call", "server_rig:flask_floor"),
        ("--call", "server_rig:flask_reference"),
        ("--call", "server_rig:flask_sample_reference"),
        ("--call", "server_rig:flask_redis_peer"),
        {"memory": 0.9, "sqlite": 0.85},
        "sync",
    ),
    Flavor(
        "FastAPI/uvicorn h11",
        "fastapi_app",
        _uvicorn("h11"),
        ("main:app",),
        ("--factory", "server_rig:fastapi_twin"),
        ("--factory", "server_rig:fastapi_floor"),
        ("--factory", "server_rig:fastapi_reference"),
        ("--factory", "server_rig:fastapi_sample_reference"),
        ("--factory", "server_rig:fastapi_redis_peer"),
        {"memory": 0.85, "sqlite": 0.8},
        "async",
    ),
    Flavor(
        "FastAPI/uvicorn httptools",
        "fastapi_app",
        _uvicorn("httptools"),
        ("main:app",),
        ("--factory", "server_rig:fastapi_twin"),
        ("--factory", "server_rig:fastapi_floor"),
        ("--factory", "server_rig:fastapi_reference"),
        ("--factory", "server_rig:fastapi_sample_reference"),
        ("--factory", "server_rig:fastapi_redis_peer"),
        {"memory": 0.85, "sqlite": 0.8},
        "async",
        requires="httptools",
    ),
)

REPLAY_TABLE = re.compile(r"^\[edgeclaims\.replay\]\n.*?(?=^\[|\Z)", re.M | re.S)


def write_config(sample: str, store: str, folder: Path, redis_url: str | None) -> Path:
    """The sample's own edgeclaims.toml with only its replay table replaced."""
    lines = [f'store = "{store}"']
    if store == "sqlite":
        lines.append(f'path = "{(folder / f"{sample}-replay.sqlite3").as_posix()}"')
    elif store == "redis":
        lines += [f'url = "{redis_url}"', f'key_prefix = "bench:{sample}:"']
    shipped = (SAMPLES / sample / "edgeclaims.toml").read_text(encoding="utf-8")
    text, count = REPLAY_TABLE.subn(
        lambda _: "[edgeclaims.replay]\n" + "\n".join(lines) + "\n\n", shipped
    )
    if count != 1:
        raise RuntimeError(f"samples/{sample}/edgeclaims.toml: no [edgeclaims.replay] table")
    path = folder / f"{sample}-{store}.toml"
    path.write_text(text, encoding="utf-8")
    if load_config(str(path)).replay.store != store:
        raise RuntimeError(f"{path}: replay.store is not {store}")
    return path


def _server_env(pythonpath: Path, config: Path | None) -> dict[str, str]:
    """This environment, with the server's import path and only its own configuration."""
    env = {k: v for k, v in os.environ.items() if k not in ("EDGECLAIMS_CONFIG", "PYTHONPATH")}
    env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(ROOT)])
    if config is not None:
        env["EDGECLAIMS_CONFIG"] = str(config)
    return env


# -- one flavor: its servers, its rounds -------------------------------------------


@dataclass
class Pair:
    """One sample × store and its twin, round by round: (bare, with) bursts."""

    throughput: list[tuple[Burst, Burst]] = field(default_factory=list)
    latency: list[tuple[Burst, Burst]] = field(default_factory=list)
    redis_cpu: list[float] = field(default_factory=list)  # redis-server CPU s a request


def start_servers(
    flavor: Flavor, stores: tuple[str, ...], folder: Path, redis_url: str | None, stack: ExitStack
) -> tuple[Server, dict[str, Server]]:
    """The twin, the sample per store and the floor, started together, stopped by ``stack``.

    Each flavor has a folder of its own: configurations, SQLite file, logs.
    """
    folder = folder / re.sub(r"\W+", "-", flavor.label)
    folder.mkdir()
    configs = {store: write_config(flavor.sample, store, folder, redis_url) for store in stores}
    signer = EdgeSigner.for_config(str(configs[stores[0]]))

    def sign(url: str) -> dict[str, str]:
        return signer.headers("GET", url, VIEWER)

    twin = Server(
        f"{flavor.label} bare twin",
        [sys.executable, *flavor.server, *flavor.twin_app],
        BENCHMARKS,
        _server_env(BENCHMARKS, None),
        folder / "bare.log",
        sign,
    )
    samples = {
        store: Server(
            f"{flavor.label} + {store}",
            [sys.executable, *flavor.server, *flavor.sample_app],
            SAMPLES / flavor.sample,
            _server_env(SAMPLES / flavor.sample, config),
            folder / f"{store}.log",
            sign,
        )
        for store, config in configs.items()
    }
    samples[FLOOR] = Server(
        f"{flavor.label} floor",
        [sys.executable, *flavor.server, *flavor.floor_app],
        BENCHMARKS,
        _server_env(BENCHMARKS, None),
        folder / "floor.log",
        sign,
    )
    # The sample on the reference imports edgeclaims with a memory store it
    # never uses: the reference verifier records the nonces.
    on_reference = (
        (reference, "reference verifier", flavor.reference_app, None),
        (
            sample_reference,
            "sample on the reference verifier",
            flavor.sample_reference_app,
            configs.get("memory") or write_config(flavor.sample, "memory", folder, None),
        ),
    )
    for store in REFERENCE_STORES:
        if store not in stores:
            continue
        for row_of, what, app, config in on_reference:
            name = re.sub(r"\W+", "-", row_of(store))
            env = _server_env(BENCHMARKS, config)
            env["EDGECLAIMS_REFERENCE_STORE"] = (
                "memory" if store == "memory" else str(folder / f"{name}-replay.sqlite3")
            )
            samples[row_of(store)] = Server(
                f"{flavor.label} {what} + {store}",
                [sys.executable, *flavor.server, *app],
                BENCHMARKS,
                env,
                folder / f"{name}.log",
                sign,
            )
    if redis_url is not None and "redis" in stores:
        env = _server_env(BENCHMARKS, None)
        env["EDGECLAIMS_PEER_REDIS_URL"] = redis_url
        samples[REDIS_PEER] = Server(
            f"{flavor.label} bare SET NX PX",
            [sys.executable, *flavor.server, *flavor.redis_peer_app],
            BENCHMARKS,
            env,
            folder / "redis-peer.log",
            sign,
        )
    for server in (twin, *samples.values()):
        stack.callback(server.stop)
        server.launch()
    for server in (twin, *samples.values()):
        server.wait_ready()
        check_answer(server)
    return twin, samples


def check_answer(server: Server) -> None:
    """One signed request: 200 and the twin's body, or the server is not what is measured."""
    assert server.sign is not None
    url = f"http://127.0.0.1:{server.port}{TARGET}"
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", TARGET, headers=dict(server.sign(url)))
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200 or json.loads(body) != VIEWER_DOCUMENT:
        raise RuntimeError(f"{server.name}: {response.status} {body[:300]!r}")


def measure_flavor(
    flavor: Flavor,
    stores: tuple[str, ...],
    size: Size,
    driver: Driver,
    connections: int,
    folder: Path,
    redis: Server | None,
) -> tuple[dict[str, Pair], list[dict[str, float]]]:
    """Interleaved bursts of each sample × store and its twin, round after round."""
    redis_url = f"redis://127.0.0.1:{redis.port}/0" if redis is not None else None
    with ExitStack() as stack:
        twin, samples = start_servers(flavor, stores, folder, redis_url, stack)
        if size.warmup:  # first requests, lazy imports, and rates to size the bursts by
            for server in (twin, *samples.values()):
                driver.burst(server, connections=connections, seconds=1)
                driver.burst(server, connections=1, seconds=1)
        kinds = (("throughput", connections, size.seconds), ("latency", 1, size.latency_seconds))
        pairs = {store: Pair() for store in samples}
        peers: list[dict[str, float]] = []
        for round_index in range(size.rounds):
            for store, sample in samples.items():
                order = (twin, sample) if round_index % 2 == 0 else (sample, twin)
                watch = redis if store == "redis" else None
                for kind, clients, seconds in kinds:
                    bursts: dict[str, Burst] = {}
                    for server in order:
                        redis_before = watch.cpu_seconds() if watch is not None else 0.0
                        burst = driver.burst(server, connections=clients, seconds=seconds)
                        bursts[server.name] = burst
                        if watch is not None and server is sample and kind == "throughput":
                            used = watch.cpu_seconds() - redis_before
                            pairs[store].redis_cpu.append(used / burst.requests)
                    getattr(pairs[store], kind).append((bursts[twin.name], bursts[sample.name]))
            if redis_url is not None and "redis" in stores:
                peers.append(redis_round_trip_cpu(redis_url, size.peer_calls))
        return pairs, peers


def redis_round_trip_cpu(url: str, calls: int) -> dict[str, float]:
    """CPU seconds of one bare SET NX PX round trip (sync and asyncio), in a process of its own."""
    command = [sys.executable, __file__, "--redis-round-trip", url, "--calls", str(calls)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def _print_round_trip_cpu(url: str, calls: int) -> None:
    import asyncio
    import itertools

    import redis
    import redis.asyncio

    keys = (f"bench:peer:{os.getpid()}:{index}" for index in itertools.count())
    ttl_ms = 40_000  # about the PX the stores set for the samples' 30 s signatures
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    for _ in range(200):  # connect and warm up outside the measurement
        client.set(next(keys), b"1", nx=True, px=ttl_ms)
    started = time.process_time()
    for _ in range(calls):
        client.set(next(keys), b"1", nx=True, px=ttl_ms)
    figures = {"sync": (time.process_time() - started) / calls}
    client.close()

    async def measure() -> float:
        aclient = redis.asyncio.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        for _ in range(200):
            await aclient.set(next(keys), b"1", nx=True, px=ttl_ms)
        started = time.process_time()
        for _ in range(calls):
            await aclient.set(next(keys), b"1", nx=True, px=ttl_ms)
        seconds = (time.process_time() - started) / calls
        await aclient.aclose()
        return seconds

    figures["async"] = asyncio.run(measure())
    print(json.dumps(figures))


# -- report ------------------------------------------------------------------------

LABEL = 56  # "FastAPI/uvicorn httptools sample on reference + memory"
HEADER = (
    f"  {'pair':<{LABEL}} {'with÷bare (min–max)':<19}  {'req/s with':>10} {'bare':>6}"
    f"  {'CPU µs/req with':>15} {'bare':>5} {'added':>6}"
    f"  {'p50 µs with':>11} {'bare':>5} {'×':>5}  {'p99 µs with':>11} {'bare':>5} {'×':>5}"
)


def throughput_ratio_and_added(pair: Pair) -> tuple[float, float]:
    """Throughput with ÷ bare, and the server CPU µs added a request: medians over rounds."""
    bursts = pair.throughput
    ratio = median([w.rate / b.rate for b, w in bursts])
    added = median([w.cpu_per_request - b.cpu_per_request for b, w in bursts]) * 1e6
    return ratio, added


def row(label: str, pair: Pair) -> str:
    throughput, latency = pair.throughput, pair.latency
    ratio, added = throughput_ratio_and_added(pair)
    ratios = [w.rate / b.rate for b, w in throughput]
    cpu_with = median([w.cpu_per_request for _, w in throughput]) * 1e6
    cpu_bare = median([b.cpu_per_request for b, _ in throughput]) * 1e6
    cells = [
        f"  {label:<{LABEL}} {ratio:5.3f}× ({min(ratios):.2f}–{max(ratios):.2f})",
        f"  {median([w.rate for _, w in throughput]):10.0f}",
        f" {median([b.rate for b, _ in throughput]):6.0f}",
        f"  {cpu_with:15.0f} {cpu_bare:5.0f} {added:+6.0f}",
    ]
    for attribute in ("p50", "p99"):
        mine = median([getattr(w, attribute) for _, w in latency]) * 1e6
        peer = median([getattr(b, attribute) for b, _ in latency]) * 1e6
        times = median([getattr(w, attribute) / getattr(b, attribute) for b, w in latency])
        cells.append(f"  {mine:11.0f} {peer:5.0f} {times:4.2f}×")
    return "".join(cells)


def print_table(flavor: Flavor, pairs: dict[str, Pair], skipped: dict[str, str]) -> None:
    command = " ".join((*flavor.server, *flavor.sample_app)).format(port="PORT")
    print(f"\n{flavor.label}: python {command}")
    print(HEADER)
    for store in STORES:
        label = f"{flavor.label} + {store}"
        if store in skipped:
            print(f"  {label:<{LABEL}} skipped: {skipped[store]}")
        else:
            print(row(label, pairs[store]))
    if FLOOR in pairs:
        print(row(f"{flavor.label} floor", pairs[FLOOR]))
    if REDIS_PEER in pairs:
        print(row(f"{flavor.label} bare SET NX PX", pairs[REDIS_PEER]))
    for row_of in (reference, sample_reference):
        for store in REFERENCE_STORES:
            label = f"{flavor.label} {row_of(store)}"
            if store in skipped:
                print(f"  {label:<{LABEL}} skipped: {skipped[store]}")
            else:
                print(row(label, pairs[row_of(store)]))
    sys.stdout.flush()


WIDTH = 104  # the longest budget label
PEERS = ("sync", "async")


def budget_lines(
    flavor: Flavor, pairs: dict[str, Pair], peers: list[dict[str, float]], skipped: dict[str, str]
) -> list[str]:
    lines = []
    if FLOOR in pairs:
        ratio, added = throughput_ratio_and_added(pairs[FLOOR])
        label = f"{flavor.label} floor (a do-nothing middleware): throughput with ÷ bare"
        lines.append(f"  {label:<{WIDTH}} {ratio:6.3f}×  (info: {added:+.0f} µs CPU a request)")
    for store in ("memory", "sqlite"):
        label = f"{flavor.label} + {store}: throughput with ÷ bare"
        least = flavor.budgets[store]
        reference_label = f"{flavor.label} reference verifier + {store}: throughput with ÷ bare"
        views_label = (
            f"{flavor.label} the sample's views on the reference verifier + {store}:"
            " throughput with ÷ bare"
        )
        if store in skipped:
            lines.append(f"  {label:<{WIDTH}} skipped: {skipped[store]}")
            lines.append(f"  {reference_label:<{WIDTH}} skipped: {skipped[store]}")
            lines.append(f"  {views_label:<{WIDTH}} skipped: {skipped[store]}")
            continue
        ratio, _ = throughput_ratio_and_added(pairs[store])
        verdict = "within" if ratio >= least else "OVER"
        lines.append(f"  {label:<{WIDTH}} {ratio:6.3f}×  (budget ≥ {least}×, {verdict})")
        ratio, added = throughput_ratio_and_added(pairs[reference(store)])
        lines.append(
            f"  {reference_label:<{WIDTH}} {ratio:6.3f}×  (info: {added:+.0f} µs CPU a request)"
        )
        # The bound of the budget line: the sample's own views, verified by the least.
        ratio, added = throughput_ratio_and_added(pairs[sample_reference(store)])
        reach = "reaches the budget" if ratio >= least else "below the budget: out of reach"
        lines.append(
            f"  {views_label:<{WIDTH}} {ratio:6.3f}×  ({reach}; {added:+.0f} µs CPU a request)"
        )
    client = "redis.asyncio" if flavor.redis_peer == "async" else "redis-py"
    label = f"{flavor.label} + redis: added CPU ÷ ({client} SET NX PX + memory's)"
    if "redis" in skipped or "memory" in skipped:
        reason = skipped.get("redis") or skipped["memory"]
        return [*lines, f"  {label:<{WIDTH}} skipped: {reason}"]
    # Per round: what the redis store adds to the sample, over what one bare
    # round trip adds to the twin in the same server plus what the memory
    # store adds to the sample — every figure server CPU a request.
    ratios, alone_ratios = [], []
    added_redis, added_memory, added_peer = [], [], []
    for index, peer in enumerate(peers):
        redis_bare, redis_with = pairs["redis"].throughput[index]
        memory_bare, memory_with = pairs["memory"].throughput[index]
        peer_bare, peer_with = pairs[REDIS_PEER].throughput[index]
        added_redis.append(redis_with.cpu_per_request - redis_bare.cpu_per_request)
        added_memory.append(memory_with.cpu_per_request - memory_bare.cpu_per_request)
        added_peer.append(peer_with.cpu_per_request - peer_bare.cpu_per_request)
        ratios.append(added_redis[-1] / (added_peer[-1] + added_memory[-1]))
        alone_ratios.append(added_redis[-1] / (peer[flavor.redis_peer] + added_memory[-1]))
    ratio = median(ratios)
    verdict = "within" if ratio <= 1.2 else "OVER"
    lines.append(f"  {label:<{WIDTH}} {ratio:6.3f}×  (budget ≤ 1.2×, {verdict})")
    sync, asynchronous = (median([peer[kind] for peer in peers]) * 1e6 for kind in PEERS)
    lines.append(
        f"    (info) CPU a request: the redis store adds {median(added_redis) * 1e6:.0f} µs,"
        f" the memory store {median(added_memory) * 1e6:.0f} µs, one bare SET NX PX in this"
        f" server {median(added_peer) * 1e6:.0f} µs; redis-server"
        f" {median(pairs['redis'].redis_cpu) * 1e6:.0f} µs"
    )
    lines.append(
        f"    (info) a bare SET NX PX alone, in a process of its own: {sync:.0f} µs (redis-py),"
        f" {asynchronous:.0f} µs (redis.asyncio); the ratio over it and memory's:"
        f" {median(alone_ratios):.3f}×"
    )
    return lines


def _versions(wrk: str, redis_server: str | None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = [f"Python {sys.version.split()[0]}", f"{os.cpu_count()} CPUs"]
    for distribution in ("waitress", "uvicorn", "httptools", "flask", "fastapi", "redis"):
        try:
            parts.append(f"{distribution} {version(distribution)}")
        except PackageNotFoundError:
            parts.append(f"{distribution} (not installed)")
    banner = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout.split()
    parts.append(" ".join(banner[:2]))
    if redis_server is not None:
        said = subprocess.run([redis_server, "--version"], capture_output=True, text=True)
        parts.append(" ".join(said.stdout.split()[:3]))
    return ", ".join(parts)


# -- main --------------------------------------------------------------------------

NO_REDIS = "redis-server not on PATH (apt-get install redis-server)"
NOT_SELECTED = "not selected (--store)"


def selected_flavors(servers: list[str] | None) -> tuple[Flavor, ...]:
    """The flavors ``--server`` names, in their usual order; all of them without it."""
    return tuple(f for f in FLAVORS if not servers or f.server_name in servers)


def unselected_stores(stores: list[str] | None) -> dict[str, str]:
    """The stores ``--store`` leaves out, each with the reason its rows print."""
    return {store: NOT_SELECTED for store in STORES if stores and store not in stores}


def _start_redis(executable: str | None, folder: Path, stack: ExitStack) -> Server | None:
    """A throw-away redis-server on a loopback port (no persistence), or None without one."""
    if executable is None:
        return None
    (folder / "redis").mkdir()
    redis = Server(
        "redis-server",
        [executable, "--port", "{port}", "--bind", "127.0.0.1", "--save", ""],
        folder / "redis",
        dict(os.environ),
        folder / "redis.log",
    )
    stack.callback(redis.stop)
    redis.launch()
    redis.wait_ready()
    return redis


def _interrupted(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: servers stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--connections", type=int, default=8, help="for throughput bursts")
    parser.add_argument(
        "--server",
        action="append",
        choices=[flavor.server_name for flavor in FLAVORS],
        help="only this server's flavor (repeatable; default: all)",
    )
    parser.add_argument(
        "--store", action="append", choices=STORES, help="only this store (repeatable)"
    )
    parser.add_argument("--redis-round-trip", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=1000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.redis_round_trip:
        _print_round_trip_cpu(args.redis_round_trip, args.calls)
        return 0
    wrk = shutil.which("wrk")
    if wrk is None or not Path("/proc/self/stat").exists():
        print("bench_servers needs wrk and Linux /proc: apt-get install wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupted)
    size = SIZES[args.size]
    started = time.monotonic()
    redis_server = shutil.which("redis-server")
    print(f"bench_servers --size {args.size}: {_versions(wrk, redis_server)}")
    print(
        f"{size.rounds} round(s); throughput: {size.seconds} s bursts at {args.connections}"
        f" connections; latency: {size.latency_seconds} s bursts at 1 connection;"
        " medians over rounds of within-round ratios"
    )
    with tempfile.TemporaryDirectory(prefix="bench-servers-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        driver = Driver(wrk, folder, TARGET)
        wants_redis = not args.store or "redis" in args.store
        redis = _start_redis(redis_server, folder, stack) if wants_redis else None
        budgets: list[str] = []
        selected = selected_flavors(args.server)
        for flavor in FLAVORS:
            if flavor not in selected:
                print(f"\n{flavor.label}: not selected (--server)")
                continue
            skipped = unselected_stores(args.store)
            if redis is None:
                skipped.setdefault("redis", NO_REDIS)
            if flavor.requires and importlib.util.find_spec(flavor.requires) is None:
                skipped = {store: f"{flavor.requires} not installed" for store in STORES}
            stores = tuple(store for store in STORES if store not in skipped)
            pairs: dict[str, Pair] = {}
            peers: list[dict[str, float]] = []
            if stores:
                pairs, peers = measure_flavor(
                    flavor, stores, size, driver, args.connections, folder, redis
                )
            print_table(flavor, pairs, skipped)
            budgets += budget_lines(flavor, pairs, peers, skipped)
    print("\nBudgets (issue #14):")
    print("\n".join(budgets))
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
