"""The replay-store contract, the key every store records, and outage logging.

A store answers one question atomically: is this the first sighting of
``(scope, key id, nonce)`` within ``ttl`` seconds? The first caller to record
it wins; every later caller (another thread, another worker process, another
server sharing the store) is told it was seen. A store that cannot answer
raises :class:`~edgeclaims.errors.ReplayStoreUnavailable`; whether the request
is then refused (the default) or allowed is the engine's decision
(``replay.on_error``), never the store's.

The ttl window is closed at both ends: a nonce recorded at ``t0`` is still a
replay at exactly ``t0 + ttl`` and forgotten only after it. A source's ttl
reaches the last instant its signature verifies (its time checks accept that
instant too), plus a margin, so no store may round it down: a nonce
forgotten while its signature still verifies is a replay accepted (issue
#11, item 11).
"""

from __future__ import annotations

import logging
import struct
from abc import ABC, abstractmethod
from hashlib import sha256
from types import TracebackType

__all__ = ["OutageLog", "ReplayStore", "replay_key"]

logger = logging.getLogger("edgeclaims")

_LENGTHS = struct.Struct(">III")


def replay_key(scope: str, key_id: str, nonce: str) -> bytes:
    """The 32-byte SHA-256 digest that stands for ``(scope, key_id, nonce)`` in a store.

    Why hash: the nonce is attacker-chosen text. Hashed, it cannot smuggle
    separators or control bytes into a Redis key, every entry has the same
    small size whatever the header held (a flood of long nonces cannot bloat
    the SQLite file or the process), and keys are spread uniformly, which the
    SQLite purge relies on. The three byte lengths come first so that field
    boundaries are part of the input: ``("a", "bc")`` and ``("ab", "c")`` differ.
    """
    try:
        scope_b, key_id_b, nonce_b = scope.encode(), key_id.encode(), nonce.encode()
    except UnicodeEncodeError:
        # A lone surrogate (text a server decoded leniently) must hash, not
        # raise out of the engine; surrogatepass keeps the encoding injective.
        scope_b = scope.encode("utf-8", "surrogatepass")
        key_id_b = key_id.encode("utf-8", "surrogatepass")
        nonce_b = nonce.encode("utf-8", "surrogatepass")
    header = _LENGTHS.pack(len(scope_b), len(key_id_b), len(nonce_b))
    return sha256(b"".join((header, scope_b, key_id_b, nonce_b))).digest()


class ReplayStore(ABC):
    """Remembers nonces so that each signed request is accepted once.

    Every store is safe to call from many threads; ``sqlite`` and ``redis``
    are also shared by many processes (and, for ``redis``, many hosts).
    """

    #: ``"memory"``, ``"sqlite"`` or ``"redis"``; shown in logs and CLI traces.
    name: str

    @abstractmethod
    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Record the nonce; True on its first sighting within ``ttl`` seconds.

        False means it was already recorded and has not expired: a replay.
        Recorded at ``now``, it is remembered through ``now + ttl`` inclusive.
        Raises :class:`~edgeclaims.errors.ReplayStoreUnavailable` when the
        store cannot answer. ``ttl`` must be positive.
        """

    @abstractmethod
    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> bool:
        """Same as :meth:`check_and_record`, without blocking the event loop on I/O."""

    @abstractmethod
    def seen(self, scope: str, key_id: str, nonce: str) -> bool:
        """Whether the nonce is recorded and live, recording nothing.

        For ``edgeclaims verify``: explaining a request on a production host
        must not spend the nonce the real request still needs.
        """

    def close(self) -> None:  # noqa: B027 - a store without resources has nothing to close
        """Release connections and threads; the store must not be used afterwards."""

    def __enter__(self) -> ReplayStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class OutageLog:
    """Logs once when a store stops answering and once when it answers again.

    A store that is down fails every request; logging each failure would bury
    the one line that matters (when it went down, and why) under thousands.
    """

    __slots__ = ("_label", "down")

    def __init__(self, label: str) -> None:
        self._label = label
        #: True between a failure and the next success; read on the hot path.
        self.down = False

    def failed(self, reason: str) -> None:
        """Note a failure; logs an error on the first one of an outage."""
        if not self.down:
            self.down = True
            logger.error("edgeclaims: replay store %s is unavailable: %s", self._label, reason)

    def recovered(self) -> None:
        """Note a success after an outage."""
        if self.down:
            self.down = False
            logger.warning("edgeclaims: replay store %s is answering again", self._label)
