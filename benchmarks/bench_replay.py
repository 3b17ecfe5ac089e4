"""Replay-store cost per request next to named peers, in one run.

    python benchmarks/bench_replay.py [--redis-url redis://127.0.0.1:6379/0]

Every call records a new nonce (the hot path is a write). Peers: a bare
redis-py ``SET key 1 NX PX ttl`` round trip on the same Redis (sync and
asyncio), and the HMAC-SHA256 RFC 9421 verification of bench_rfc9421.py
when it can be built. Without ``--redis-url`` a throw-away redis-server is
started if one is on PATH. Budget (issue 6): redis ≤ 1.1× the bare
``SET NX PX``. The sqlite and memory rows are printed next to the RFC 9421
verification for information: issue #13 withdrew budgets that are ratios to
edgeclaims' own verification (issue #14 measures the stores inside real
servers, against the bare app).

:func:`measure_stores` returns the medians so that other reports can join them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import median_seconds, report

from edgeclaims.replay import MemoryReplayStore, SQLiteReplayStore

TTL = 60.0
SCOPE, KEY_ID = "rfc9421", "2026-11"


def _unique_nonces() -> Iterator[str]:
    return (f"bench-{index}" for index in itertools.count())


Blocks = dict[str, list[float]]


def _interleaved_blocks(
    calls: dict[str, Callable[[], object]], *, number: int, repeat: int
) -> Blocks:
    """Seconds per call of each, in ``repeat`` timed blocks taken in turn.

    A store and its peer measured in alternating blocks (in either order)
    see the same machine noise: a loopback round trip on a busy VM wanders by
    tens of percent within a second, which back-to-back runs would pin on
    whichever side ran during the slow spell.
    """
    for call in calls.values():
        call()  # connect and warm up outside the measurement
    blocks: Blocks = {name: [] for name in calls}
    order = list(calls.items())
    for _ in range(repeat):
        for name, call in order:
            started = time.perf_counter()
            for _ in range(number):
                call()
            blocks[name].append((time.perf_counter() - started) / number)
        order.reverse()  # neither side always runs first
    return blocks


async def _async_interleaved_blocks(
    calls: dict[str, Callable[[], Awaitable[object]]], *, number: int, repeat: int
) -> Blocks:
    """:func:`_interleaved_blocks` for coroutines, awaited back to back on one loop."""
    for call in calls.values():
        await call()
    blocks: Blocks = {name: [] for name in calls}
    order = list(calls.items())
    for _ in range(repeat):
        for name, call in order:
            started = time.perf_counter()
            for _ in range(number):
                await call()
            blocks[name].append((time.perf_counter() - started) / number)
        order.reverse()
    return blocks


def _paired_ratio(blocks: Blocks, numerator: str, denominator: str) -> float:
    """Median of block-by-block ratios: each pair ran within milliseconds of each other."""
    pairs = zip(blocks[numerator], blocks[denominator], strict=True)
    return statistics.median(mine / peer for mine, peer in pairs)


def measure_stores(
    redis_url: str | None = None,
    *,
    number: int = 2000,
    repeat: int = 15,
    paired_ratios: dict[str, float] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each store, and of a bare ``SET NX PX`` on the same Redis.

    Keys: ``memory``, ``sqlite``, and with a Redis URL ``redis``, ``redis-bare``,
    ``redis-async``, ``redis-async-bare``. Given ``paired_ratios``, it also
    receives ``redis`` and ``redis-async``: the median of block-by-block
    ratios to the bare peer, steadier than a ratio of medians on a noisy box.
    """
    results: dict[str, float] = {}
    nonces = _unique_nonces()

    memory = MemoryReplayStore(max_entries=10_000_000)
    results["memory"] = median_seconds(
        lambda: memory.check_and_record(SCOPE, KEY_ID, next(nonces), TTL),
        number=number * 5,
        repeat=repeat,
    )

    with tempfile.TemporaryDirectory() as folder:
        sqlite = SQLiteReplayStore(Path(folder) / "replay.db")
        results["sqlite"] = median_seconds(
            lambda: sqlite.check_and_record(SCOPE, KEY_ID, next(nonces), TTL),
            number=number,
            repeat=repeat,
        )
        sqlite.close()

    if redis_url is not None:
        # Many short blocks: a slow spell spoils few of them.
        blocks = _measure_redis(redis_url, number=max(1, number // 4), repeat=repeat * 4)
        results.update({name: statistics.median(values) for name, values in blocks.items()})
        if paired_ratios is not None:
            paired_ratios["redis"] = _paired_ratio(blocks, "redis", "redis-bare")
            paired_ratios["redis-async"] = _paired_ratio(blocks, "redis-async", "redis-async-bare")
    return results


def _measure_redis(url: str, *, number: int, repeat: int) -> Blocks:
    import redis
    import redis.asyncio

    from edgeclaims.replay.redis_store import RedisReplayStore

    nonces = _unique_nonces()
    ttl_ms = int(TTL * 1000)
    store = RedisReplayStore(url, timeout=1.0)
    bare = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    abare = redis.asyncio.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    # The peer does the least a correct call must: a unique key, SET NX PX, one round trip.
    blocks = _interleaved_blocks(
        {
            "redis-bare": lambda: bare.set(f"bench:{next(nonces)}", b"1", nx=True, px=ttl_ms),
            "redis": lambda: store.check_and_record(SCOPE, KEY_ID, next(nonces), TTL),
        },
        number=number,
        repeat=repeat,
    )

    async def measure_async() -> Blocks:
        async_blocks = await _async_interleaved_blocks(
            {
                "redis-async-bare": lambda: abare.set(
                    f"bench:{next(nonces)}", b"1", nx=True, px=ttl_ms
                ),
                "redis-async": lambda: store.acheck_and_record(SCOPE, KEY_ID, next(nonces), TTL),
            },
            number=number,
            repeat=repeat,
        )
        await abare.aclose()
        await store.aclose()
        return async_blocks

    blocks.update(asyncio.run(measure_async()))
    bare.close()
    return blocks


def _rfc9421_hmac_seconds() -> float | None:
    """The HMAC RFC 9421 verification, set up exactly as bench_rfc9421.py does."""
    try:
        from bench_rfc9421 import _source_and_view
        from tables import HMAC_KEY, NOW

        source, view, _ = _source_and_view(HMAC_KEY)
        return median_seconds(lambda: source.verify(view, NOW))
    except Exception as exc:  # that module is someone else's, and may be mid-change
        print(f"  (RFC 9421 verification not measured: {type(exc).__name__}: {exc})")
        return None


@contextmanager
def _redis_server(url: str | None) -> Iterator[str | None]:
    if url is not None:
        yield url
        return
    executable = shutil.which("redis-server")
    if executable is None:
        print("  (no redis-server on PATH and no --redis-url: Redis not measured)")
        yield None
        return
    from replay_support import RedisServer

    with tempfile.TemporaryDirectory() as folder:
        server = RedisServer(executable, Path(folder))
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", help="an existing Redis to measure against")
    args = parser.parse_args()

    paired: dict[str, float] = {}
    with _redis_server(args.redis_url) as url:
        stores = measure_stores(url, paired_ratios=paired)
    verification = _rfc9421_hmac_seconds()

    names = {
        "memory": "edgeclaims memory store",
        "sqlite": "edgeclaims sqlite store (WAL, synchronous=NORMAL)",
        "redis": "edgeclaims redis store",
        "redis-bare": "redis-py SET NX PX (bare)",
        "redis-async": "edgeclaims redis store, asyncio",
        "redis-async-bare": "redis.asyncio SET NX PX (bare)",
    }
    rows = [(names[key], seconds) for key, seconds in stores.items()]
    ratios: list[tuple[str, str, str, float]] = []
    if "redis" in stores:
        ratios.append(("redis store / bare SET NX PX", names["redis"], names["redis-bare"], 1.1))
        ratios.append(
            (
                "redis store asyncio / bare asyncio SET NX PX",
                names["redis-async"],
                names["redis-async-bare"],
                1.1,
            )
        )
    if verification is not None:
        rows.append(("edgeclaims rfc9421 hmac-sha256 verify", verification))
        peer = "edgeclaims rfc9421 hmac-sha256 verify"
        info = float("inf")
        ratios.append(("(info) sqlite store / rfc9421 verification", names["sqlite"], peer, info))
        ratios.append(("(info) memory store / rfc9421 verification", names["memory"], peer, info))
    report(rows, ratios)
    for key, label in (("redis", "redis store"), ("redis-async", "redis store asyncio")):
        if key in paired:
            ratio = paired[key]
            verdict = "within" if ratio <= 1.1 else "OVER"
            name = f"{label} / bare, median of paired blocks"
            print(f"  {name:<58} {ratio:6.3f}×  (budget ≤ 1.1×, {verdict})")


if __name__ == "__main__":
    main()
