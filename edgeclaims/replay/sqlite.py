"""SQLite replay store: one file shared by every worker process on a host.

The embedded default for IIS, where FastCGI ``maxInstances``, web gardens and
HttpPlatformHandler ``processesPerApplication`` run several Python processes
per site: they all open the same file, and SQLite's file locking makes the
"insert if absent" of one process visible to all the others.

**Security:** the file must be on a local disk. SQLite's locking (and WAL's
shared-memory index) is not reliable on network shares, so a farm of servers
must use the ``redis`` store instead of one file on a UNC path. The folder
must be writable by the app pool identity: SQLite creates ``-wal`` and
``-shm`` files next to the database.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay.base import OutageLog, ReplayStore, replay_key

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["SQLiteReplayStore"]

logger = logging.getLogger("edgeclaims")

# WITHOUT ROWID: the 32-byte key *is* the B-tree key, so a record is one
# B-tree insert and its uniqueness check is the same lookup. No index on
# `expires`: it would double the pages each commit writes (measured ~15 µs →
# ~25 µs a call); the purge below sweeps key ranges instead.
_CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS replay ("
    "key BLOB PRIMARY KEY NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
)
_CREATE_SWEEP = (
    "CREATE TABLE IF NOT EXISTS replay_sweep ("
    "id INTEGER PRIMARY KEY CHECK (id = 0), cursor BLOB NOT NULL, swept_at REAL NOT NULL)"
)
# "First sighting wins" in one statement, hence atomic across processes:
# insert, or take over a row whose nonce has expired; a live row is left
# alone and the statement changes nothing (rowcount 0). Needs SQLite ≥ 3.24.
# Expired means strictly past `expires` (here, in the purge, in every
# store): at exactly `expires` the signature may still verify (base.py).
_RECORD = (
    "INSERT INTO replay (key, expires) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE replay.expires < ?"
)
_SEEN = "SELECT 1 FROM replay WHERE key = ? AND expires >= ?"
_READ_SWEEP = "SELECT cursor, swept_at FROM replay_sweep WHERE id = 0"
_WRITE_SWEEP = "INSERT OR REPLACE INTO replay_sweep (id, cursor, swept_at) VALUES (0, ?, ?)"
_FIND_EXPIRED = (
    "SELECT key FROM replay WHERE key >= ? AND key < ? AND expires < ? ORDER BY key LIMIT ?"
)
# `expires < ?` again: a row re-recorded since it was found must survive.
_DELETE_EXPIRED = "DELETE FROM replay WHERE key = ? AND expires < ?"

# The -wal file is checkpointed here, not by SQLite after each commit (its
# autocheckpoint is turned off): with several connections writing all the
# time, SQLite's own PASSIVE checkpoint never catches up — other writers
# append frames while it syncs — so the log is never restarted, grows without
# bound (33–132 MiB after 20,000 records from 4 threads or 4 processes), and
# every commit retries the checkpoint and its fsync. Every _WAL_CHECK_EVERY
# records a thread looks at the log's size; past _WAL_LIMIT (SQLite's own
# threshold, 1,000 pages of 4 KiB; journal_size_limit brings the file back to
# it at each restart) a thread of the store's pool checkpoints, so that no
# request waits for its fsyncs: PASSIVE first, which copies the bulk while
# writers go on, then RESTART, which holds new writers back only while it
# copies what is left, and has the next writer start the log over. RESTART,
# not TRUNCATE: writing over the file's blocks is cheaper than growing it
# again (a record's median 30 µs, against 41–52 µs after TRUNCATE). Any
# process may checkpoint for all.
_WAL_LIMIT = 4 * 1024 * 1024
_WAL_CHECK_EVERY = 32
# How long the RESTART checkpoint waits for readers and writers, holding new
# writers back meanwhile: short, so that a reader that lingers (another
# program's open transaction) defers the checkpoint instead of making every
# writer of the host wait out its own timeout.
_CHECKPOINT_WAIT_MS = 20
_KEYSPACE = 1 << 32  # the sweep cursor moves over the keys' first four bytes
_TOP = b"\xff" * 33  # sorts after every 32-byte key
# Start-up only: the first open may queue behind every other worker process
# creating the file and switching it to WAL at the same moment.
_STARTUP_TIMEOUT = 5.0


class _Handle:
    """One thread's connection. Dropped with the thread's locals, which closes it."""

    __slots__ = ("__weakref__", "calls", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.calls = 0


class SQLiteReplayStore(ReplayStore):
    """Nonces in a SQLite file (WAL mode) shared by all processes on one host.

    Each thread has its own connection (a sqlite3 connection must not be
    shared between threads, and a connection must not cross a fork); each
    record is one autocommit statement whose lock waits are bounded by
    ``timeout``. Expired rows are purged a little at a time by the callers
    themselves: every ``purge_every`` records a thread deletes at most
    ``purge_limit`` expired rows from the next slice of the key space, the
    slice sized so the whole file is swept about once per ``sweep_period``
    seconds (or once per 32 purges, if that is longer: one purge covers at
    most 1/32 of the keys). Rows therefore outlive their ttl by at most one
    sweep, and the file stays proportional to the request rate, never to
    uptime. ``purge_every=0`` turns the purge off (tests use it as the
    control). The ``-wal`` file is kept near 4 MiB: once a caller sees it
    larger, a thread of the store's pool checkpoints it (see ``_WAL_LIMIT``),
    not SQLite after each commit.

    The constructor creates the folder and opens the file, so that a path
    the pool identity cannot write fails at start-up (``OSError`` or
    :class:`~edgeclaims.errors.ReplayStoreUnavailable`, which
    :func:`~edgeclaims.replay.build_replay_store` reports as a
    ``ConfigurationError``), not on the first request.
    """

    name = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 0.5,
        clock: Callable[[], float] = time.time,
        purge_every: int = 32,
        purge_limit: int = 256,
        sweep_period: float = 30.0,
        async_workers: int = 4,
    ) -> None:
        path = Path(path)
        if str(path) in ("", ":memory:"):
            raise ValueError("a SQLite replay store needs a file that all workers share")
        self.path = path
        self._timeout = timeout
        self._busy_timeout_ms = max(1, math.ceil(timeout * 1000))
        self._clock = clock
        self._purge_every = purge_every
        self._purge_limit = purge_limit
        self._sweep_period = sweep_period
        self._async_workers = async_workers
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._lock = threading.Lock()
        # Taken without waiting: one checkpoint at a time, the other threads go on.
        self._checkpointing = threading.Lock()
        self._wal_path = f"{path}-wal"
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        self._outage = OutageLog(f"sqlite ({path})")
        # Connections inherited through fork(), never used nor closed (closing
        # one could checkpoint or delete the parent's WAL): kept referenced.
        self._inherited: list[_Handle] = []
        if hasattr(os, "register_at_fork"):  # POSIX only; Windows never forks
            weak_self = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _after_fork(weak_self))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle(wait=max(timeout, _STARTUP_TIMEOUT))

    # -- the hot path -------------------------------------------------------

    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Record the nonce; True on its first sighting within ``ttl`` seconds, on any process."""
        key = replay_key(scope, key_id, nonce)
        handle = self._handle()
        try:
            return self._record(handle, key, ttl)
        except sqlite3.Error as exc:
            raise self._failed(handle, exc) from exc

    def _record(self, handle: _Handle, key: bytes, ttl: float) -> bool:
        now = self._clock()
        first: bool = handle.conn.execute(_RECORD, (key, now + ttl, now)).rowcount == 1
        if self._outage.down:
            self._outage.recovered()
        handle.calls += 1
        if handle.calls % _WAL_CHECK_EVERY == 0 and _file_size(self._wal_path) > _WAL_LIMIT:
            self._checkpoint_soon()
        if self._purge_every and handle.calls % self._purge_every == 0:
            self._purge(handle.conn, now)
        return first

    def _failed(self, handle: _Handle, exc: sqlite3.Error) -> ReplayStoreUnavailable:
        self._discard(handle)
        self._outage.failed(f"{type(exc).__name__}: {exc}")
        return ReplayStoreUnavailable("the SQLite replay store did not answer")

    def seen(self, scope: str, key_id: str, nonce: str) -> bool:
        """Whether the nonce is recorded and live, on any process (no record made)."""
        key = replay_key(scope, key_id, nonce)
        handle = self._handle()
        try:
            row = handle.conn.execute(_SEEN, (key, self._clock())).fetchone()
        except sqlite3.Error as exc:
            self._discard(handle)
            raise ReplayStoreUnavailable("the SQLite replay store did not answer") from exc
        return row is not None

    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Same as :meth:`check_and_record`, never making the event loop wait for a lock.

        The statement takes tens of microseconds, a hop to a worker thread
        hundreds: so it runs right here, on a connection that never waits
        (``busy_timeout`` 0). Only when another process holds the write lock
        at that moment does the call go to the store's own small thread pool,
        whose workers wait up to ``timeout`` there, never on the loop. (A
        dedicated pool, not the loop's default executor, bounds the number of
        connections.)
        """
        key = replay_key(scope, key_id, nonce)
        handle = self._handle(waits=False)
        try:
            return self._record(handle, key, ttl)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise self._failed(handle, exc) from exc
        except sqlite3.Error as exc:
            raise self._failed(handle, exc) from exc
        import asyncio  # only ASGI callers come here; a WSGI app never loads it

        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(
                self._pool(), self.check_and_record, scope, key_id, nonce, ttl
            )
        except RuntimeError as exc:  # the pool was shut down by close()
            raise ReplayStoreUnavailable("the SQLite replay store is closed") from exc
        return await future

    # -- connections ----------------------------------------------------------

    def _handle(self, wait: float | None = None, *, waits: bool = True) -> _Handle:
        """This thread's connection; ``waits=False``: its second one, which never waits."""
        slot = "handle" if waits else "quick"
        handle: _Handle | None = getattr(self._local, slot, None)
        if handle is not None:
            return handle
        if self._closed:
            raise ReplayStoreUnavailable("the SQLite replay store is closed")
        try:
            conn = self._connect(self._timeout if wait is None else wait)
            if not waits:
                conn.execute("PRAGMA busy_timeout=0")
        except sqlite3.Error as exc:
            self._outage.failed(f"cannot open: {type(exc).__name__}: {exc}")
            raise ReplayStoreUnavailable("the SQLite replay store cannot be opened") from exc
        handle = _Handle(conn)
        setattr(self._local, slot, handle)
        with self._lock:
            self._handles.add(handle)
        return handle

    def _connect(self, wait: float) -> sqlite3.Connection:
        # Several worker processes start at once against a new file: the
        # switch to WAL needs an exclusive lock and SQLite answers "database
        # is locked" at once, without its busy handler, when two connections
        # race for it. Retry until the wait is used up.
        deadline = time.monotonic() + wait
        while True:
            try:
                return self._connect_once(wait)
            except sqlite3.OperationalError as exc:
                message = str(exc).lower()
                if ("locked" not in message and "busy" not in message) or (
                    time.monotonic() >= deadline
                ):
                    raise
            time.sleep(0.01)

    def _connect_once(self, wait: float) -> sqlite3.Connection:
        # isolation_level=None (autocommit): each record is one statement
        # that commits as it runs, holding the write lock for microseconds.
        # The module's implicit transactions would need a commit() per call,
        # and one forgotten would hold the lock against every other process.
        conn = sqlite3.connect(
            self.path,
            timeout=wait,
            isolation_level=None,
            check_same_thread=False,  # only close() crosses threads
            cached_statements=16,
        )
        try:
            # WAL: a commit appends to the -wal file instead of rewriting the
            # database under an exclusive lock, and readers never block the
            # writer; the mode is stored in the file, for every process, so
            # only the first connection has to switch it.
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"journal_mode is {mode!r}, WAL was refused")
            # NORMAL in WAL: no fsync per commit, only at checkpoints. A power
            # cut can lose the last moments of nonces (replayable until their
            # signatures expire, seconds later); FULL would cost an fsync,
            # milliseconds, on every request.
            conn.execute("PRAGMA synchronous=NORMAL")
            # A checkpoint leaves the -wal file at its high-water mark; cap it.
            conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
            # Checkpoints are this module's (_WAL_LIMIT, above), not each commit's.
            conn.execute("PRAGMA wal_autocheckpoint=0")
            conn.execute(_CREATE_TABLE)
            conn.execute(_CREATE_SWEEP)
            # From now on a lock wait is bounded by the configured timeout.
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _discard(self, handle: _Handle) -> None:
        # After an error the next call opens a fresh connection: that is what
        # recovers from a file replaced, deleted or restored under us.
        for slot in ("handle", "quick"):
            if getattr(self._local, slot, None) is handle:
                delattr(self._local, slot)
        with contextlib.suppress(sqlite3.Error):
            handle.conn.close()

    def _pool(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    if self._closed:
                        raise RuntimeError("closed")
                    self._executor = ThreadPoolExecutor(
                        self._async_workers, thread_name_prefix="edgeclaims-replay"
                    )
        return self._executor

    # -- checkpoint -----------------------------------------------------------

    def _checkpoint_soon(self) -> None:
        """Checkpoint the -wal file in the store's thread pool.

        It syncs files, tens of milliseconds on a slow disk: no request waits
        for that, and no event loop stalls.
        """
        with contextlib.suppress(RuntimeError):  # the pool was shut down by close()
            self._pool().submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """Copy the whole log into the database and have it started over (in a pool thread).

        One at a time: another thread of this process already at it is enough.
        Housekeeping only: a checkpoint that cannot finish (busy) or fails is
        logged at debug level and tried again at a later look.
        """
        if not self._checkpointing.acquire(blocking=False):
            return
        try:
            conn = self._handle().conn
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            conn.execute(f"PRAGMA busy_timeout={_CHECKPOINT_WAIT_MS}")
            try:
                (busy, _, _) = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            if busy:
                logger.debug("edgeclaims: replay checkpoint deferred: the log is in use")
        except (sqlite3.Error, ReplayStoreUnavailable) as exc:
            logger.debug("edgeclaims: replay checkpoint skipped: %s", exc)
        finally:
            self._checkpointing.release()

    # -- purge ----------------------------------------------------------------

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        """Delete a bounded batch of expired rows from the next slice of keys.

        Keys are SHA-256 digests, uniformly spread, so a slice of the key
        space holds the same share of rows, expired or not. The cursor is
        shared in the file, so all processes together sweep it once per
        ``sweep_period``. Housekeeping only: a failure here is logged at
        debug level and never fails the request that triggered it.
        """
        try:
            row = conn.execute(_READ_SWEEP).fetchone()
            cursor, swept_at = (bytes(row[0]), float(row[1])) if row else (b"", now)
            # The share of the key space this purge covers: the time since the
            # last one over the sweep period, at least a sliver (progress even
            # if the clock stepped back), at most 1/32 so that one purge after
            # a long idle spell scans a small part of a large file.
            share = min(max((now - swept_at) / self._sweep_period, 1 / 65536), 1 / 32)
            start = int.from_bytes(cursor[:4].ljust(4, b"\0"), "big")
            end = start + math.ceil(share * _KEYSPACE)
            upper = end.to_bytes(4, "big") if end < _KEYSPACE else _TOP
            # Found outside any write transaction: WAL readers take no lock.
            keys = conn.execute(_FIND_EXPIRED, (cursor, upper, now, self._purge_limit)).fetchall()
            if len(keys) == self._purge_limit:
                next_cursor = bytes(keys[-1][0])  # more to do here: resume at the last key
            else:
                next_cursor = upper if end < _KEYSPACE else b""  # wrap around
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_DELETE_EXPIRED, ((key, now) for (key,) in keys))
                conn.execute(_WRITE_SWEEP, (next_cursor, now))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            logger.debug("edgeclaims: replay purge skipped: %s", exc)

    # -- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        """Close every thread's connection and the async thread pool."""
        with self._lock:
            self._closed = True
            self._local = threading.local()  # every thread's next call sees `closed`
            handles = list(self._handles)
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        for handle in handles:
            with contextlib.suppress(sqlite3.Error):
                handle.conn.close()

    def _forget_inherited(self) -> None:
        """In a forked child: set the parent's connections and threads aside."""
        self._inherited.extend(self._handles)
        self._handles = weakref.WeakSet()
        self._local = threading.local()
        self._lock = threading.Lock()  # may have been held by another thread at fork
        self._checkpointing = threading.Lock()
        self._executor = None  # its threads do not exist in the child

    def __repr__(self) -> str:
        return f"SQLiteReplayStore({str(self.path)!r}, timeout={self._timeout})"


def _after_fork(weak_store: weakref.ReferenceType[SQLiteReplayStore]) -> None:
    store = weak_store()
    if store is not None:
        store._forget_inherited()


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:  # no -wal file at this moment (SQLite removes it on the last close)
        return 0


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the lock (SQLITE_BUSY)."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message
