"""The one bounded cache of the package, on ``cachetools``.

Every cache edgeclaims keeps — verified third-party tokens (``jws``
``cache_size``), unknown JWKS key ids (``negative_cache_size``) and the role
memos (``role_cache_size``) — is a :class:`BoundedCache`: the oldest entry
out first (``cachetools.FIFOCache``), a size the configuration names and an
optional expiry per entry. ``cachetools`` caches are not thread-safe and
WSGI servers run requests on many threads, so every change takes a lock;
a read changes nothing in a FIFO cache (unlike an LRU one) and needs none.
Nothing else in the package remembers anything between requests.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, TypeVar

from cachetools import FIFOCache

__all__ = ["BoundedCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_NEVER = float("inf")


class BoundedCache(Generic[K, V]):
    """A thread-safe cache of at most ``maxsize`` entries, each valid until a time."""

    __slots__ = ("_entries", "_lock", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("a BoundedCache holds at least one entry")
        self.maxsize = maxsize
        self._entries: FIFOCache[K, tuple[V, float]] = FIFOCache(maxsize)
        self._lock = threading.Lock()

    def get(self, key: K, now: float = 0.0) -> V | None:
        """The value, or None when absent or expired at ``now`` (an expired one is dropped)."""
        try:
            # No lock: the entry may vanish meanwhile (KeyError), never half-written.
            value, until = self._entries[key]
        except KeyError:
            return None
        if now > until:
            with self._lock:
                self._entries.pop(key, None)
            return None
        return value

    def put(self, key: K, value: V, until: float = _NEVER) -> None:
        """Keep ``value`` until ``until`` (default: until evicted)."""
        with self._lock:
            self._entries[key] = (value, until)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"BoundedCache({len(self)}/{self.maxsize})"
