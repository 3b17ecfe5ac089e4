"""The JWKS URL client: keys fetched over HTTPS, cached, and kept through outages.

Bounded cache with TTL (``Cache-Control: max-age`` within configured
bounds), refetch on an unknown ``kid`` at most once per
``min_refetch_interval``, a negative cache for unknown kids, one fetch at a
time across threads (async callers fetch in a worker thread), and
last-known-good keys served for ``max_stale`` when the endpoint fails or
returns garbage; then ``key_source_unavailable`` (503). Whatever goes wrong
while fetching — the socket, TLS, an answer that is not HTTP — is such a
failure: a lookup raises only ``UnknownKey`` or ``KeySourceUnavailable``.
Parsing and JWKS hygiene live in :mod:`edgeclaims.jwks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from edgeclaims.caches import BoundedCache
from edgeclaims.config_table import redact_url
from edgeclaims.errors import ConfigurationError, KeySourceUnavailable, UnknownKey
from edgeclaims.jwks import JWKSError, _select, parse_jwks
from edgeclaims.key_fetch import (
    FetchFailed,
    bounded_get,
    is_loopback,
    on_event_loop,
    opener_for,
)
from edgeclaims.keys import Key

__all__ = ["JWKSClient", "check_jwks_url"]

logger = logging.getLogger("edgeclaims")

#: The largest JWKS document read from the network.
MAX_JWKS_BYTES = 256 * 1024
#: With no keys at all, a failed fetch is retried this often (not every request).
COLD_RETRY_SECONDS = 5.0

# -- the URL client --------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    keys: Mapping[str, Key]
    #: Monotonic deadlines: fresh (no refetch needed), then usable (stale, if fetching fails).
    fresh_until: float
    usable_until: float


def check_jwks_url(url: str, where: str) -> str:
    """Refuse anything but an https URL (or http to a loopback host, for tests)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        # urllib would fail on every fetch (http.client.InvalidURL): say so now.
        raise ConfigurationError(where, "is not a valid URL (host or port)") from None
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host and is_loopback(host):
        return url
    raise ConfigurationError(where, "must be an https:// URL (http:// only for a loopback host)")


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


class JWKSClient:
    """Keys from a JWKS URL, cached, refreshed with limits, served stale when the endpoint fails.

    Thread-safe. ``clock`` (monotonic seconds) is injectable so tests never
    sleep. The first lookup fetches unless :meth:`refresh` ran at start-up
    (``prefetch = true``). When cached keys have expired but may still be
    served, the one request that finds them so refreshes them (bounded by
    ``timeout``, at most once per ``min_refetch_interval``) while concurrent
    requests go on with the stale keys; a request whose kid is unknown, or
    that finds no usable keys, waits for the fetch in flight instead.
    """

    fetches = True

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str] | None = None,
        timeout: float = 3.0,
        cache_ttl_min: float = 60.0,
        cache_ttl_max: float = 86400.0,
        min_refetch_interval: float = 60.0,
        max_stale: float = 3600.0,
        negative_cache_size: int = 1024,
        max_bytes: int = MAX_JWKS_BYTES,
        clock: Callable[[], float] = time.monotonic,
        where: str = "jwks_url",
    ) -> None:
        self.url = check_jwks_url(url, where)
        if cache_ttl_min > cache_ttl_max:
            raise ConfigurationError(where, "cache_ttl_min is larger than cache_ttl_max")
        self.algorithms = frozenset(algorithms) if algorithms is not None else None
        self.timeout = timeout
        self.cache_ttl_min = cache_ttl_min
        self.cache_ttl_max = cache_ttl_max
        self.min_refetch_interval = min_refetch_interval
        self.max_stale = max_stale
        self.max_bytes = max_bytes
        self._clock = clock
        #: For logs and reprs: never a password, nor the query (it might
        #: carry a token of the IdP's).
        self.display_url = redact_url(url)
        self._opener = opener_for(url)
        self._state: _Snapshot | None = None
        self._fetch_lock = threading.Lock()
        self._attempts = 0
        self._last_attempt: float | None = None
        # kid → until when it is known to be unknown: the moment the next
        # fetch may happen, so a rotated-in kid is never hidden longer than
        # the rate limit itself hides it. Bounded: a flood of random kids
        # pushes out only other unknown kids.
        self._unknown: BoundedCache[str, float] = BoundedCache(negative_cache_size)

    def __repr__(self) -> str:
        return f"JWKSClient({self.display_url!r})"

    # -- lookups ------------------------------------------------------------------

    def key_for(self, kid: str | None) -> Key:
        """The key for ``kid``, fetching when needed (never on an event loop thread)."""
        state = self._state
        if state is not None and self._clock() < state.fresh_until:
            key = _select(state.keys, kid)
            if key is not None:
                return key
        return self._slow_lookup(kid)

    def is_current(self, key: Key) -> bool:
        state = self._state
        return (
            state is not None
            and state.keys.get(key.id) is key
            and self._clock() < state.usable_until
        )

    def prepare(self, kid: str | None) -> None:
        """Do whatever fetching ``key_for(kid)`` needs, now (blocking; never raises)."""
        with contextlib.suppress(UnknownKey, KeySourceUnavailable):
            self.key_for(kid)

    async def aprepare(self, kid: str | None) -> None:
        """Fetch in a worker thread if ``key_for(kid)`` would need to; never blocks the loop."""
        if self._needs_fetch(kid):
            await asyncio.to_thread(self.prepare, kid)

    def refresh(self) -> bool:
        """Fetch now, once (start-up prefetch); True when usable keys are installed."""
        with self._fetch_lock:
            now = self._clock()
            self._attempts += 1
            self._last_attempt = now
            return self._fetch_and_install(now)

    # -- the slow path ---------------------------------------------------------------

    def _slow_lookup(self, kid: str | None) -> Key:
        now = self._clock()
        state = self._state
        key = _select(state.keys, kid) if state is not None else None
        usable = state is not None and now < state.usable_until
        if key is None and usable and kid is not None and self._known_unknown(kid, now):
            raise UnknownKey("the JWKS has no key with the token's kid")
        fresh = state is not None and now < state.fresh_until
        # A fetch in flight counts too: its result may be what this lookup needs.
        if (key is None or not fresh) and (self._may_attempt(now) or self._fetch_lock.locked()):
            if on_event_loop():
                self._refresh_in_background()
            else:
                # Wait for a fetch in flight only when stale keys cannot answer.
                self._refresh(wait=key is None or not usable)
            now = self._clock()
            state = self._state
            key = _select(state.keys, kid) if state is not None else None
            usable = state is not None and now < state.usable_until
        if not usable:
            raise KeySourceUnavailable("the JWKS endpoint failed and no usable keys are cached")
        if key is None:
            if kid is None:
                raise UnknownKey("the token has no kid and the JWKS holds several keys")
            self._remember_unknown(kid, now)
            raise UnknownKey("the JWKS has no key with the token's kid")
        return key

    def _needs_fetch(self, kid: str | None) -> bool:
        now = self._clock()
        state = self._state
        key = _select(state.keys, kid) if state is not None else None
        if key is not None and state is not None and now < state.fresh_until:
            return False
        if key is None and kid is not None and state is not None and self._known_unknown(kid, now):
            return False
        # A fetch in flight counts: waiting for it (in a thread) beats a 503.
        return self._fetch_lock.locked() or self._may_attempt(now)

    def _known_unknown(self, kid: str, now: float) -> bool:
        until = self._unknown.get(kid, now)
        return until is not None and now < until

    def _remember_unknown(self, kid: str, now: float) -> None:
        until = (self._last_attempt if self._last_attempt is not None else now) + (
            self.min_refetch_interval
        )
        self._unknown.put(kid, until, until)

    def _may_attempt(self, now: float) -> bool:
        if self._last_attempt is None:
            return True
        interval = self.min_refetch_interval
        if self._state is None:
            interval = min(interval, COLD_RETRY_SECONDS)
        return now - self._last_attempt >= interval

    def _refresh(self, *, wait: bool) -> None:
        seen = self._attempts
        acquired = (
            self._fetch_lock.acquire(timeout=self.timeout * 2 + 1.0)
            if wait
            else self._fetch_lock.acquire(blocking=False)
        )
        if not acquired:
            return
        try:
            # Single flight: whoever waited behind a fetch shares its result.
            if self._attempts != seen:
                return
            now = self._clock()
            if not self._may_attempt(now):
                return
            self._attempts += 1
            self._last_attempt = now
            self._fetch_and_install(now)
        finally:
            self._fetch_lock.release()

    def _refresh_in_background(self) -> None:
        if self._fetch_lock.locked():
            return
        threading.Thread(
            target=self._refresh, kwargs={"wait": False}, name="edgeclaims-jwks", daemon=True
        ).start()

    def _fetch_and_install(self, now: float) -> bool:
        """Fetch, parse and install (the caller holds the fetch lock); False on failure."""
        held = "serving cached keys" if self._state is not None else "no keys cached"
        try:
            body, ttl_hint = self._download()
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                raise FetchFailed("the response is not JSON") from None
            try:
                key_set = parse_jwks(document, algorithms=self.algorithms, allow_secrets=False)
            except JWKSError as exc:
                raise FetchFailed(str(exc)) from None
            if not key_set.keys:
                raise FetchFailed("the JWK Set holds no usable key")
        except FetchFailed as exc:
            logger.warning(
                "edgeclaims: JWKS fetch from %s failed (%s); %s", self.display_url, exc, held
            )
            return False
        except Exception as exc:
            # A fault nobody foresaw in the fetch, or in parsing what the
            # endpoint sent, is still a failed fetch: keys as they were
            # (stale-if-error), else 503. Escaping, it would make a lookup a
            # 500 (ASGI) or a 401 "malformed" (WSGI), or end a background
            # refresh. Where it happened, not the message: that may quote the body.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "edgeclaims: JWKS fetch from %s failed (unexpected %s at %s:%s); %s",
                self.display_url,
                type(exc).__name__,
                frame.filename,
                frame.lineno,
                held,
            )
            return False
        for problem in key_set.problems:
            logger.warning("edgeclaims: JWKS %s: ignored %s", self.display_url, problem)
        ttl = min(max(ttl_hint, self.cache_ttl_min), self.cache_ttl_max)
        self._state = _Snapshot(dict(key_set.keys), now + ttl, now + ttl + self.max_stale)
        self._unknown.clear()
        return True

    def _download(self) -> tuple[bytes, float]:
        body, headers = bounded_get(
            self._opener,
            self.url,
            accept="application/jwk-set+json, application/json",
            timeout=self.timeout,
            max_bytes=self.max_bytes,
        )
        return body, self._ttl_from(headers.get("Cache-Control", ""))

    def _ttl_from(self, cache_control: str) -> float:
        if _NO_STORE.search(cache_control):
            return self.cache_ttl_min
        match = _MAX_AGE.search(cache_control)
        if match:
            return float(match.group(1))
        # No hint: five minutes, within the configured bounds.
        return 300.0
