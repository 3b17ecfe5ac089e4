"""The SQLite store: one file, many worker processes, bounded growth, bounded waits."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loop_support import loop_ticks_while
from replay_support import FakeClock, WorkerPool
from tables import signed

from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay import SQLiteReplayStore

# Spawned worker processes and SQLite's own locking: CI runs these under its first
# Python only (.ci/run).
pytestmark = pytest.mark.slow

WORKERS = 8


@pytest.fixture(scope="module")
def farm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A fresh file: the workers race to create it and switch it to WAL.
    return tmp_path_factory.mktemp("sqlite-host") / "replay.db"


@pytest.fixture(scope="module")
def workers(farm_path: Path) -> Iterator[WorkerPool]:
    """Eight spawned processes (as IIS FastCGI instances) sharing one SQLite file."""
    with WorkerPool({"store": "sqlite", "path": str(farm_path)}, WORKERS) as pool:
        yield pool


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT count(*) FROM replay").fetchone()
    conn.close()
    return int(count)


# -- many processes, one file -------------------------------------------------


def test_workers_are_separate_processes(workers: WorkerPool, farm_path: Path) -> None:
    assert len(set(workers.pids)) == WORKERS
    assert os.getpid() not in workers.pids
    with sqlite3.connect(farm_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_sequential_replay_to_each_process_is_accepted_once(workers: WorkerPool) -> None:
    answers = workers.ask_each_in_turn("store", ("rfc9421", "2026-11", "sequential", 60.0))
    assert answers == [True] + [False] * (WORKERS - 1)


def test_simultaneous_replay_to_eight_processes_is_accepted_once(workers: WorkerPool) -> None:
    for attempt in range(10):
        answers = workers.ask_all_at_once("store", ("rfc9421", "2026-11", f"sim-{attempt}", 60.0))
        assert answers.count(True) == 1, answers
        assert answers.count(False) == WORKERS - 1, answers


def test_signed_request_replayed_to_each_process_is_accepted_once(workers: WorkerPool) -> None:
    request = ("GET", "/whoami", signed(nonce="wsgi-sequential"))
    assert workers.ask_each_in_turn("wsgi", request) == [200] + [401] * (WORKERS - 1)


def test_signed_request_replayed_simultaneously_is_accepted_once(workers: WorkerPool) -> None:
    for attempt in range(5):
        request = ("GET", "/whoami", signed(nonce=f"wsgi-sim-{attempt}"))
        statuses = workers.ask_all_at_once("wsgi", request)
        assert sorted(statuses) == [200] + [401] * (WORKERS - 1), statuses


def test_this_process_sees_what_the_workers_recorded(workers: WorkerPool, farm_path: Path) -> None:
    workers.ask(3, "store", ("rfc9421", "k", "recorded-by-worker-3", 60.0))
    with SQLiteReplayStore(farm_path) as store:
        assert store.check_and_record("rfc9421", "k", "recorded-by-worker-3", 60.0) is False
        assert store.check_and_record("rfc9421", "k", "recorded-here", 60.0) is True
    assert workers.ask(5, "store", ("rfc9421", "k", "recorded-here", 60.0)) is False


# -- bounded growth -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sweep_period", "purge_every"), [(30.0, 32), (2.0, 8)], ids=["defaults", "eager"]
)
def test_purge_keeps_the_file_bounded(
    tmp_path: Path, sweep_period: float, purge_every: int
) -> None:
    clock = FakeClock()
    purged = SQLiteReplayStore(
        tmp_path / "purged.db", clock=clock, sweep_period=sweep_period, purge_every=purge_every
    )
    control = SQLiteReplayStore(tmp_path / "control.db", clock=clock, purge_every=0)
    rate, ttl, total = 100, 1.0, 20_000  # 100 unique nonces a second, for 200 s
    # A row outlives its ttl by at most one sweep; a sweep takes sweep_period,
    # or 32 purges when that is longer (one purge covers at most 1/32 of keys).
    sweep = max(sweep_period, 32 * purge_every / rate)
    bound = rate * (ttl + sweep) * 1.25 + 300
    peak = 0
    with purged, control:
        for index in range(total):
            nonce = f"stream-{index}"
            assert purged.check_and_record("rfc9421", "k", nonce, ttl) is True
            assert control.check_and_record("rfc9421", "k", nonce, ttl) is True
            clock.advance(1 / rate)
            if index % 250 == 0:
                peak = max(peak, _rows(tmp_path / "purged.db"))
        # The purge never removes a live nonce: the last second is still refused.
        for index in range(total - rate + 1, total):
            assert purged.check_and_record("rfc9421", "k", f"stream-{index}", ttl) is False
    assert peak <= bound, (peak, bound)
    assert _rows(tmp_path / "purged.db") <= bound
    assert _rows(tmp_path / "control.db") == total  # without the purge: every row stays

    sizes = {}
    for name in ("purged", "control"):
        path = tmp_path / f"{name}.db"
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        sizes[name] = path.stat().st_size
    assert sizes["purged"] < 400 * 1024, sizes
    assert sizes["purged"] * 3 < sizes["control"], sizes


def test_expired_rows_are_reused_in_place(tmp_path: Path) -> None:
    clock = FakeClock()
    with SQLiteReplayStore(tmp_path / "replay.db", clock=clock, purge_every=0) as store:
        assert store.check_and_record("rfc9421", "k", "n", 10) is True
        clock.advance(10.001)  # just past the ttl: at exactly 10 s it is still a replay
        assert store.check_and_record("rfc9421", "k", "n", 10) is True
        assert store.check_and_record("rfc9421", "k", "n", 10) is False
    assert _rows(tmp_path / "replay.db") == 1


def _busy_for(seconds: float) -> None:
    """Python work holding the GIL, as a request's own does between two records."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def test_the_log_stays_bounded_while_threads_write_all_the_time(tmp_path: Path) -> None:
    """With SQLite's own checkpoints the -wal file grew to ~100 MiB in 24,000 records.

    Four threads never stop writing (as waitress --threads=4 under load):
    SQLite's PASSIVE checkpoint after each commit never caught up with the
    frames the others appended meanwhile, so the log was never restarted.
    The store's TRUNCATE checkpoints keep it near their 4 MiB threshold.
    """
    path = tmp_path / "replay.db"
    wal = Path(f"{path}-wal")
    sizes: list[int] = []
    failures: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for index in range(3000):
                _busy_for(0.0001)
                assert store.check_and_record("rfc9421", "k", f"{thread}-{index}", 60)
                if index % 64 == 0 and wal.exists():
                    sizes.append(wal.stat().st_size)
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    with SQLiteReplayStore(path) as store:
        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with sqlite3.connect(path) as conn:
            (autocheckpoint,) = conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        conn.close()
    assert failures == []
    assert _rows(path) == 12_000
    assert max(sizes) < 12 * 1024 * 1024, max(sizes)
    assert autocheckpoint == 1000  # another program's connection keeps SQLite's default


def test_an_event_loop_caller_checkpoints_in_a_worker_thread(tmp_path: Path) -> None:
    """A checkpoint syncs files (milliseconds): an ASGI caller's runs off the loop."""
    path = tmp_path / "replay.db"
    wal = Path(f"{path}-wal")
    store = SQLiteReplayStore(path)
    # Another program's connection fills the log past 4 MiB (each transaction
    # its own frames) and leaves the checkpoint to the store.
    filler = sqlite3.connect(path, isolation_level=None)
    filler.execute("PRAGMA wal_autocheckpoint=0")
    for index in range(1200):
        filler.execute("INSERT INTO replay VALUES (?, 1e12)", (os.urandom(32),))
    assert wal.stat().st_size > 4 * 1024 * 1024
    unchecked = path.stat().st_size  # the rows are in the log only
    checkpointed_in: list[int] = []
    real_checkpoint = store._checkpoint

    def checkpoint() -> None:
        checkpointed_in.append(threading.get_ident())
        real_checkpoint()

    store._checkpoint = checkpoint  # type: ignore[method-assign]

    async def record() -> int:
        for index in range(64):
            assert await store.acheck_and_record("rfc9421", "k", f"async-{index}", 60)
        return threading.get_ident()

    loop_thread = asyncio.run(record())
    store.close()  # waits for the pool's work
    # Still before the filler's close, which would checkpoint by itself.
    checked = path.stat().st_size
    filler.close()
    assert checkpointed_in, "no checkpoint ran"
    assert loop_thread not in checkpointed_in
    assert checked >= unchecked + 32 * 1024, (unchecked, checked)  # the rows were copied in


def test_a_lingering_reader_defers_the_checkpoint_instead_of_stalling_writers(
    tmp_path: Path,
) -> None:
    """Another program's open read transaction: the checkpoint gives up after a moment.

    RESTART waits for readers and holds new writers back meanwhile; waiting
    the store's 2 s lock timeout, it held a record back that long.
    """
    path = tmp_path / "replay.db"
    with SQLiteReplayStore(path, timeout=2.0) as store:
        filler = sqlite3.connect(path, isolation_level=None)
        filler.execute("PRAGMA wal_autocheckpoint=0")
        for _ in range(1200):  # past 4 MiB of log, each row its own commit
            filler.execute("INSERT INTO replay VALUES (?, 1e12)", (os.urandom(32),))
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM replay").fetchone()  # holds its snapshot
        slowest = 0.0
        deadline = time.monotonic() + 1.0  # records go on while the pool checkpoints
        index = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            assert store.check_and_record("rfc9421", "k", f"lingering-{index}", 60)
            slowest = max(slowest, time.monotonic() - started)
            index += 1
        reader.execute("COMMIT")
        reader.close()
        filler.close()
    assert slowest < 0.5, slowest


# -- waits are bounded; failures are 503s -------------------------------------


def test_a_lock_held_elsewhere_fails_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    with SQLiteReplayStore(path, timeout=0.2) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another process stuck mid-write
        started = time.monotonic()
        with pytest.raises(ReplayStoreUnavailable) as caught:
            store.check_and_record("rfc9421", "k", "blocked", 60)
        waited = time.monotonic() - started
        assert 0.15 <= waited < 2.0
        assert caught.value.status == 503
        assert str(path) not in caught.value.detail
        blocker.execute("ROLLBACK")
        blocker.close()
        # Nothing was recorded by the failed call; the store recovers by itself.
        assert store.check_and_record("rfc9421", "k", "blocked", 60) is True


def test_async_wait_on_a_lock_does_not_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    store = SQLiteReplayStore(path, timeout=0.3)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    try:
        ticks, raised = asyncio.run(
            loop_ticks_while(store.acheck_and_record("rfc9421", "k", "async-blocked", 60))
        )
        assert isinstance(raised, ReplayStoreUnavailable)
        assert ticks >= 10  # the loop kept running during the 0.3 s wait
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert asyncio.run(store.acheck_and_record("rfc9421", "k", "async-blocked", 60)) is True
    store.close()


def test_async_record_runs_on_the_loop_unless_the_database_is_busy(tmp_path: Path) -> None:
    """The statement is tens of µs, a thread hop hundreds: only a held lock sends it to a worker."""
    threads: list[int] = []

    def clock() -> float:  # the store reads the clock once per record, where it runs
        threads.append(threading.get_ident())
        return time.time()

    path = tmp_path / "replay.db"
    store = SQLiteReplayStore(path, timeout=2.0, clock=clock)

    async def free_then_busy() -> tuple[int, list[bool]]:
        loop_thread = threading.get_ident()
        answers = [await store.acheck_and_record("rfc9421", "k", "free", 60)]
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.2, blocker.execute, "ROLLBACK")
        ticks, raised = await loop_ticks_while(
            store.acheck_and_record("rfc9421", "k", "while-busy", 60)
        )
        assert raised is None
        answers.append(await store.acheck_and_record("rfc9421", "k", "while-busy", 60))
        blocker.close()
        assert ticks >= 10  # the loop ran while a worker waited for the lock
        return loop_thread, answers

    threads.clear()
    loop_thread, answers = asyncio.run(free_then_busy())
    assert answers == [True, False]
    assert threads[0] == loop_thread  # no lock held: recorded inline
    assert any(thread != loop_thread for thread in threads[1:])  # held: in a worker
    store.close()


def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteReplayStore(tmp_path / "replay.db")
    assert asyncio.run(store.acheck_and_record("rfc9421", "k", "n", 60)) is True
    store.close()
    with pytest.raises(ReplayStoreUnavailable):
        store.check_and_record("rfc9421", "k", "n2", 60)
    with pytest.raises(ReplayStoreUnavailable):
        asyncio.run(store.acheck_and_record("rfc9421", "k", "n3", 60))


def test_memory_path_is_refused() -> None:
    with pytest.raises(ValueError):
        SQLiteReplayStore(":memory:")


def _use_after_fork(
    store: SQLiteReplayStore, queue: multiprocessing.Queue[tuple[int, bool, bool]]
) -> None:
    queue.put(
        (
            len(store._inherited),
            store.check_and_record("rfc9421", "k", "before-fork", 60),
            store.check_and_record("rfc9421", "k", "in-child", 60),
        )
    )


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no fork()")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads alive
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    # gunicorn --preload builds the app (and its store) before forking workers.
    store = SQLiteReplayStore(tmp_path / "replay.db")
    assert store.check_and_record("rfc9421", "k", "before-fork", 60) is True
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[tuple[int, bool, bool]] = context.Queue()
    child = context.Process(target=_use_after_fork, args=(store, queue))
    child.start()
    inherited, before, in_child = queue.get(timeout=30)
    child.join(30)
    assert inherited >= 1  # the parent's connection was set aside, not reused
    assert (before, in_child) == (False, True)
    assert store.check_and_record("rfc9421", "k", "in-child", 60) is False
    store.close()


def test_repr_names_the_file(tmp_path: Path) -> None:
    with SQLiteReplayStore(tmp_path / "replay.db", timeout=0.25) as store:
        assert repr(store) == f"SQLiteReplayStore({str(tmp_path / 'replay.db')!r}, timeout=0.25)"


def _open_store_at_once(path: str, barrier: Any, results: Any) -> None:
    from edgeclaims.replay import SQLiteReplayStore

    barrier.wait()
    try:
        store = SQLiteReplayStore(path, timeout=0.5)
        results.put(store.check_and_record("s", "k", "same-nonce", 60.0))
        store.close()
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(repr(exc))


def test_workers_starting_together_on_a_new_file_all_open_it(tmp_path: Path) -> None:
    # CI found it: two processes switching a fresh file to WAL at the same
    # moment got "database is locked" at once, without SQLite's busy wait.
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        path = str(tmp_path / f"fresh-{attempt}.sqlite3")
        barrier = context.Barrier(8)
        results = context.Queue()
        workers = [
            context.Process(target=_open_store_at_once, args=(path, barrier, results))
            for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert sorted(map(str, outcomes)) == ["False"] * 7 + ["True"], outcomes
