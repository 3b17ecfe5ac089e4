"""In-process replay store: nonces remembered in this process's memory only.

For a single-process server and for tests. Under IIS every FastCGI instance
or HttpPlatformHandler process has its own memory, so a replay landing on
another process is accepted: use the ``sqlite`` or ``redis`` store there.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay.base import ReplayStore, replay_key

__all__ = ["MemoryReplayStore"]


class MemoryReplayStore(ReplayStore):
    """A bounded set of recent nonces, each forgotten when its ttl has passed.

    **Security:** a cache that evicts its oldest entry when full (as
    ``cachetools.TTLCache`` and ``TLRUCache`` do) lets an attacker who can
    send ``max_entries`` fresh, valid requests push a captured nonce out and
    replay it within its ttl. This store never evicts an unexpired nonce:
    when it holds ``max_entries`` of them it refuses new ones with
    :class:`~edgeclaims.errors.ReplayStoreUnavailable` (fail closed, HTTP 503)
    until some expire. Size ``max_entries`` above the peak request rate times
    the longest ttl.

    Not built on cachetools (the issue suggested ``TTLCache``): ttl differs
    per source, which ``TTLCache`` cannot express (``TLRUCache`` can); the
    eviction both would do has to be prevented anyway; and their bookkeeping
    alone costs about 2.5 µs a call, more than this whole store (a set and a
    heap of expiry times, about 1 µs plus the 0.8 µs of the SHA-256 key).
    """

    name = "memory"

    def __init__(self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.time):
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: set[bytes] = set()
        # (expires, key), one per key in _seen: popped, in expiry order, as
        # time passes, so forgetting costs O(log n) per entry, never a scan.
        self._expiries: list[tuple[float, bytes]] = []

    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Record the nonce; True on its first sighting within ``ttl`` seconds."""
        key = replay_key(scope, key_id, nonce)
        now = self._clock()
        with self._lock:
            expiries = self._expiries
            seen = self._seen
            # Forget what has expired first: afterwards everything in `seen`
            # is live, so membership alone decides. Strictly past its expiry
            # only: at exactly `now + ttl` the nonce is still remembered (the
            # ttl reaches the last instant a signature verifies, base.py).
            while expiries and expiries[0][0] < now:
                seen.discard(heapq.heappop(expiries)[1])
            if key in seen:
                return False
            if len(seen) >= self.max_entries:
                raise ReplayStoreUnavailable(
                    "the in-memory replay store is full of unexpired nonces"
                )
            seen.add(key)
            heapq.heappush(expiries, (now + ttl, key))
            return True

    def seen(self, scope: str, key_id: str, nonce: str) -> bool:
        """Whether the nonce is recorded and live (no record made)."""
        key = replay_key(scope, key_id, nonce)
        now = self._clock()
        with self._lock:
            return key in self._seen and all(
                expiry >= now for expiry, held in self._expiries if held == key
            )

    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Same as :meth:`check_and_record`: no I/O, and the lock is held for microseconds."""
        return self.check_and_record(scope, key_id, nonce, ttl)

    def __len__(self) -> int:
        """How many nonces are remembered (including any expired but not yet forgotten)."""
        return len(self._seen)

    def __repr__(self) -> str:
        return f"MemoryReplayStore(max_entries={self.max_entries})"
