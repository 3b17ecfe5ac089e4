"""Redis replay store: nonces shared by every process on every server of a farm.

One ``SET key 1 NX PX ttl`` per request: Redis executes commands one at a
time, so of several servers recording the same nonce at the same moment
exactly one gets ``OK`` and the others ``nil``, and Redis forgets the key by
itself when the ttl has passed. Named ``redis_store`` so that it never
shadows the ``redis`` package, which is an optional dependency
(``pip install 'edgeclaims[redis]'``) imported only when this store is used.

TLS and credentials come from the URL: ``rediss://user:password@host:6380/0``
(Redis 6 ACL user) or ``rediss://:password@host:6380/0``; certificate options
as query parameters (``?ssl_ca_certs=C:/certs/ca.pem``). Prefer a URL kept
out of the configuration file (an app pool environment variable).
"""

from __future__ import annotations

import asyncio
import math
import threading
import weakref
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from edgeclaims.config_table import redact_url  # there, config can use it without redis
from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay.base import OutageLog, ReplayStore, replay_key

__all__ = ["RedisReplayStore", "redact_url"]

_VALUE = b"1"

_LoopClient = tuple["weakref.ReferenceType[asyncio.AbstractEventLoop]", redis.asyncio.Redis]


def _milliseconds(ttl: float) -> int:
    """``ttl`` as a ``PX`` argument that can only lengthen what Redis remembers.

    Redis sets the expiry to its clock at ``SET``, in whole milliseconds, plus
    ``PX``, and drops the key only once its clock is past that (``now >
    when``): with ``PX`` rounded up, a nonce recorded at ``t`` is still there
    at ``t + ttl``, the last instant its signature may verify (base.py). The
    extra millisecond is the margin: it absorbs ``ttl * 1000`` rounding below
    the exact product and keeps the key even by a clock that rounds up.
    """
    return max(1, math.ceil(ttl * 1000)) + 1


class RedisReplayStore(ReplayStore):
    """Nonces in Redis (``SET NX PX``), for a farm of servers sharing one Redis.

    The synchronous client and one asyncio client per event loop each keep a
    connection pool. Every socket operation is bounded by ``timeout``, and
    there are no client-side retries: a Redis that is down costs one failed
    connect (instant when the port is closed, ``timeout`` when the host does
    not answer), not a series of back-offs, and the request is refused with
    ``replay_store_unavailable``. When Redis is back the pools reconnect on
    the next call: no restart needed.

    Retries are off for a second reason: ``SET NX`` is not idempotent. Had a
    first attempt reached Redis before its reply was lost, a retry would read
    the nonce as already seen and refuse a genuine request as a replay.

    **Security:** every server must write to the same primary. Replication is
    asynchronous, so a failover can lose the last nonces written (a replay
    is then accepted within their ttl, seconds); Redis Cluster is not
    supported. ``client_options`` go to ``redis.Redis.from_url`` as they are
    (for example ``max_connections``); the URL's query parameters win.
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.5,
        key_prefix: str = "edgeclaims:replay:",
        **client_options: Any,
    ) -> None:
        self._url = url
        self._label = redact_url(url)
        self._prefix = key_prefix.encode("utf-8")
        self._options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": 0,
            **client_options,
        }
        self.timeout = timeout
        self._client: redis.Redis = redis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), **self._options
        )
        # redis.asyncio connections belong to the loop that opened them.
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, redis.asyncio.Redis
        ] = weakref.WeakKeyDictionary()
        # The last loop's client, found without a weak-dictionary lookup.
        self._recent: _LoopClient | None = None
        self._lock = threading.Lock()
        self._outage = OutageLog(f"redis ({self._label})")
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()  # referenced until done

    def key(self, scope: str, key_id: str, nonce: str) -> bytes:
        """The Redis key for ``(scope, key_id, nonce)``: the prefix and a hex digest."""
        return self._prefix + replay_key(scope, key_id, nonce).hex().encode("ascii")

    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Record the nonce; True on its first sighting within ``ttl`` seconds, farm-wide."""
        key = self.key(scope, key_id, nonce)
        if self._closed:
            raise ReplayStoreUnavailable("the Redis replay store is closed")
        try:
            # The command itself, not Redis.set(): its option checks cost
            # more (~3 µs) than computing the key.
            result = self._client.execute_command(  # type: ignore[no-untyped-call]
                "SET", key, _VALUE, "NX", "PX", _milliseconds(ttl)
            )
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if self._outage.down:
            self._outage.recovered()
        return bool(result)

    def seen(self, scope: str, key_id: str, nonce: str) -> bool:
        """Whether the nonce is recorded and live, farm-wide (no record made)."""
        if self._closed:
            raise ReplayStoreUnavailable("the Redis replay store is closed")
        try:
            count = self._client.exists(self.key(scope, key_id, nonce))
        except (RedisError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return bool(count)

    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Same as :meth:`check_and_record` through ``redis.asyncio``: the loop never waits."""
        key = self.key(scope, key_id, nonce)
        if self._closed:
            raise ReplayStoreUnavailable("the Redis replay store is closed")
        client = self._async_client()
        try:
            result = await client.execute_command(  # type: ignore[no-untyped-call]
                "SET", key, _VALUE, "NX", "PX", _milliseconds(ttl)
            )
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        if self._outage.down:
            self._outage.recovered()
        return bool(result)

    def _unavailable(self, exc: BaseException) -> ReplayStoreUnavailable:
        # redis-py's messages name the host and port, never the password;
        # they go to the log, while the caller only learns the store is down.
        self._outage.failed(f"{type(exc).__name__}: {exc}")
        return ReplayStoreUnavailable("the Redis replay store did not answer")

    def _async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        recent = self._recent
        if recent is not None and recent[0]() is loop:
            return recent[1]
        with self._lock:
            found = self._async_clients.get(loop)
            if found is None:
                found = redis.asyncio.Redis.from_url(
                    self._url, retry=AsyncRetry(NoBackoff(), 0), **self._options
                )
                self._async_clients[loop] = found
            self._recent = (weakref.ref(loop), found)
        return found

    async def aclose(self) -> None:
        """Close the client of the running loop (ASGI shutdown), then everything else."""
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._async_clients.pop(loop, None)
            self._recent = None
        if client is not None:
            await client.aclose()
        self.close()

    def close(self) -> None:
        """Close the connection pools, the asyncio ones on their own loops.

        Called from inside a running loop (an ASGI shutdown hook), that
        loop's client is closed by a task scheduled on it; ``await aclose()``
        there instead to wait for it.
        """
        self._closed = True
        self._client.close()
        with self._lock:
            clients = list(self._async_clients.items())
            self._async_clients.clear()
            self._recent = None
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, client in clients:
            if loop.is_closed():
                continue  # its sockets went with it
            if loop is running:
                task = loop.create_task(client.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif loop.is_running():  # another thread's loop
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                loop.run_until_complete(client.aclose())

    def __repr__(self) -> str:
        return f"RedisReplayStore({self._label!r}, timeout={self.timeout})"
