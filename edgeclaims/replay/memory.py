"""In-process replay store: nonces remembered in this process's memory only.

For a single-process server and for tests. Under IIS every FastCGI instance
or HttpPlatformHandler process has its own memory, so a replay landing on
another process is accepted: use the ``sqlite`` or ``redis`` store there.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections.abc import Callable

from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay.base import ReplayStore, replay_key

__all__ = ["DEFAULT_MAX_ENTRIES", "MemoryReplayStore"]

#: Enough for 10,000 verified requests a second through the longest default
#: ttl (max_age + 3·leeway + 1 s = 46 s), in about 40 MiB.
DEFAULT_MAX_ENTRIES = 500_000


class MemoryReplayStore(ReplayStore):
    """A bounded set of recent nonces, each forgotten once its ttl has passed.

    **Security:** a cache that evicts its oldest entry when full (as
    ``cachetools.TTLCache`` and ``TLRUCache`` do) lets an attacker who can
    send ``max_entries`` fresh, valid requests push a captured nonce out and
    replay it within its ttl. This store never evicts an unexpired nonce:
    when it holds ``max_entries`` of them it refuses new ones with
    :class:`~edgeclaims.errors.ReplayStoreUnavailable` (fail closed, HTTP 503)
    until some expire. Size ``max_entries`` above the peak request rate times
    the longest ttl.

    Compact on purpose, so that the default holds ten seconds' worth of a
    busy process many times over: each nonce is kept as a 96-bit integer
    taken from its SHA-256 key (a collision would refuse a request, never
    accept one), in one set, and listed in the bucket of the whole second
    after its expiry; a heap holds one entry per bucket, not per nonce.
    About 80 bytes a nonce.
    """

    name = "memory"

    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, *, clock: Callable[[], float] = time.time
    ):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[int] = set()
        # Whole second → the nonces forgotten once that second has passed.
        self._buckets: dict[int, list[int]] = {}
        self._due: list[int] = []  # the buckets' seconds, as a heap

    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Record the nonce; True on its first sighting within ``ttl`` seconds."""
        key = _short(replay_key(scope, key_id, nonce))
        now = self._clock()
        # Rounded up: a nonce is forgotten only strictly after its expiry
        # (at exactly `now + ttl` a signature may still verify, base.py).
        second = math.ceil(now + ttl)
        with self._lock:
            self._forget(now)
            seen = self._seen
            if key in seen:
                return False
            if len(seen) >= self.max_entries:
                raise ReplayStoreUnavailable(
                    "the in-memory replay store is full of unexpired nonces"
                )
            seen.add(key)
            bucket = self._buckets.get(second)
            if bucket is None:
                self._buckets[second] = bucket = []
                heapq.heappush(self._due, second)
            bucket.append(key)
            return True

    def seen(self, scope: str, key_id: str, nonce: str) -> bool:
        """Whether the nonce is recorded and live (no record made)."""
        key = _short(replay_key(scope, key_id, nonce))
        with self._lock:
            self._forget(self._clock())
            return key in self._seen

    def _forget(self, now: float) -> None:
        due, buckets, seen = self._due, self._buckets, self._seen
        while due and due[0] < now:
            for key in buckets.pop(heapq.heappop(due)):
                seen.discard(key)

    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Same as :meth:`check_and_record`: no I/O, and the lock is held for microseconds."""
        return self.check_and_record(scope, key_id, nonce, ttl)

    def __len__(self) -> int:
        """How many nonces are remembered (including any expired but not yet forgotten)."""
        return len(self._seen)

    def __repr__(self) -> str:
        return f"MemoryReplayStore(max_entries={self.max_entries})"


def _short(key: bytes) -> int:
    return int.from_bytes(key[:12], "big")
