"""Replay stores: each signed request is accepted once, across processes and servers.

The RFC 9421 nonce, the JWS ``jti`` and the G2O data header all end here as
``(scope, key id, nonce)`` with a ttl covering every moment the signature
could still verify (spec/signed-headers.md §1 rule 8). Which store:

``memory``
    One process only: single-process servers and tests.
``sqlite``
    One host: a file on a local disk shared by all worker processes (FastCGI
    ``maxInstances``, web gardens, HttpPlatformHandler processes).
``redis``
    A farm: every server points at the same Redis (optional dependency).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edgeclaims.config import ReplayConfig
from edgeclaims.errors import ConfigurationError, ReplayStoreUnavailable
from edgeclaims.replay.base import ReplayStore, replay_key
from edgeclaims.replay.memory import MemoryReplayStore


def __getattr__(name: str) -> object:
    # sqlite3 is loaded with the store that needs it, not with the package.
    if name == "SQLiteReplayStore":
        from edgeclaims.replay.sqlite import SQLiteReplayStore

        return SQLiteReplayStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MemoryReplayStore",
    "ReplayStore",
    "SQLiteReplayStore",
    "build_replay_store",
    "replay_key",
]


def build_replay_store(
    config: ReplayConfig, *, clock: Callable[[], float] = time.time
) -> ReplayStore | None:
    """The store ``[edgeclaims.replay]`` asks for; None when ``store = "off"``.

    Called once at start-up. Problems that configuration can fix (a missing
    ``redis`` package, a SQLite folder the pool identity cannot write, an
    unusable URL) are :class:`ConfigurationError`\\ s here, not 503s later.
    Redis itself is not contacted: a Redis that is down at start-up refuses
    requests until it is up, then the service recovers on its own.
    """
    if config.store == "off":
        return None
    if config.store == "memory":
        return MemoryReplayStore(config.max_entries, clock=clock)
    if config.store == "sqlite":
        from edgeclaims.replay.sqlite import SQLiteReplayStore

        if not config.path:
            raise ConfigurationError("replay.path", "is required when store = 'sqlite'")
        try:
            return SQLiteReplayStore(config.path, timeout=config.timeout, clock=clock)
        except (OSError, ValueError, ReplayStoreUnavailable) as exc:
            cause = exc.__cause__ or exc
            raise ConfigurationError(
                "replay.path", f"cannot open the SQLite replay store {config.path}: {cause}"
            ) from exc
    if config.store == "redis":
        if not config.url:
            raise ConfigurationError("replay.url", "is required when store = 'redis'")
        try:
            from edgeclaims.replay.redis_store import RedisReplayStore
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] != "redis":
                raise
            raise ConfigurationError(
                "replay.store",
                "'redis' needs the redis package: pip install 'edgeclaims[redis]'",
            ) from None
        try:
            return RedisReplayStore(
                config.url, timeout=config.timeout, key_prefix=config.key_prefix
            )
        except ValueError:
            # redis-py's message may quote parts of the URL: keep secrets out.
            raise ConfigurationError("replay.url", "is not a usable Redis URL") from None
    raise ConfigurationError("replay.store", f"unknown store {config.store!r}")
