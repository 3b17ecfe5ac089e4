"""Public keys fetched one per key id: ``<base URL>/<kid>`` answers one PEM (AWS ALB).

A JWK Set is one document holding every key; here each key has its own URL
and the token's ``kid`` names it, so whoever sends a token chooses what is
fetched. Hence:

* the caller checks the kid's shape (a UUID for ALB) before it gets here:
  it becomes part of a URL;
* a key, once fetched, is kept until evicted (a kid names one key for
  good), at most ``max_keys`` of them;
* a kid not in the cache is fetched only when no fetch, for any kid, was
  attempted within ``min_refetch_interval``: a flood of random kids costs
  at most one fetch per interval. A kid the endpoint does not have is
  remembered for the interval, at least a second (negative cache), so
  asking again for it does not take the next fetch from a kid that may
  exist, nor fetch twice for one request (``aprepare``, then ``key_for``);
* one fetch at a time (single flight): requests waiting for the same kid
  share the fetch in flight; only when the endpoint failed and no key is
  cached yet (down at start-up) is a fetch retried sooner, every 5 s;
* a short timeout for the whole answer, no redirects, no proxy for a
  loopback host, https only (http to loopback, for tests);
* the endpoint saying it has no such key (a 4xx but 408 and 429), or
  answering with anything but one P-256 public key: ``unknown_key``. The
  network, a 5xx, a timeout: ``key_source_unavailable`` (503).

Async callers fetch in a worker thread (:meth:`PEMKeyClient.aprepare`); a
lookup on an event loop thread never blocks on the network.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from edgeclaims.caches import BoundedCache
from edgeclaims.config_table import redact_url
from edgeclaims.errors import KeySourceUnavailable, UnknownKey
from edgeclaims.jwks_client import check_jwks_url
from edgeclaims.key_fetch import FetchFailed, bounded_get, on_event_loop, opener_for
from edgeclaims.keys import Key

__all__ = ["PEMKeyClient"]

logger = logging.getLogger("edgeclaims")

#: The largest answer read: a P-256 public key in PEM is 178 bytes.
MAX_PEM_BYTES = 8192
#: With no key at all, a fetch that failed (not a 404) is retried this often.
COLD_RETRY_SECONDS = 5.0
#: The shortest time a kid the endpoint lacks is remembered, whatever the interval.
MIN_NEGATIVE_SECONDS = 1.0
#: Statuses that say "try again later" rather than "no such key".
_TRANSIENT = frozenset({408, 429})


class _NoSuchKey(Exception):
    """The endpoint answered, without a usable key for this kid (message safe to log)."""


class _Outage(Exception):
    """The endpoint could not be asked (message safe to log)."""


class PEMKeyClient:
    """ES256 public keys from ``base_url + "/" + kid``, cached, fetched with limits.

    Thread-safe. ``clock`` (monotonic seconds) is injectable so tests never sleep.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        min_refetch_interval: float = 60.0,
        max_keys: int = 64,
        negative_cache_size: int = 1024,
        max_bytes: int = MAX_PEM_BYTES,
        clock: Callable[[], float] = time.monotonic,
        where: str = "key_base_url",
    ) -> None:
        self.base_url = check_jwks_url(base_url, where).rstrip("/")
        self.timeout = timeout
        self.min_refetch_interval = min_refetch_interval
        self.max_bytes = max_bytes
        self._clock = clock
        #: For logs and reprs: never a password, nor a query.
        self.display_url = redact_url(self.base_url)
        self._opener = opener_for(self.base_url)
        self._keys: BoundedCache[str, Key] = BoundedCache(max_keys)
        # kid → until when it is known to be unknown.
        self._unknown: BoundedCache[str, bool] = BoundedCache(negative_cache_size)
        self._fetch_lock = threading.Lock()
        self._last_attempt: float | None = None
        self._last_failed = False

    def __repr__(self) -> str:
        return f"PEMKeyClient({self.display_url!r})"

    # -- lookups ------------------------------------------------------------------------

    def key_for(self, kid: str) -> Key:
        """The key for ``kid`` (checked by the caller), fetching when allowed.

        Raises ``UnknownKey`` or ``KeySourceUnavailable``. On an event loop
        thread the fetch runs in the background and this lookup answers 503.
        """
        key = self._keys.get(kid)
        if key is not None:
            return key
        if self._needs_fetch(kid):
            if on_event_loop():
                threading.Thread(
                    target=self._fetch, args=(kid,), name="edgeclaims-pem-key", daemon=True
                ).start()
                raise KeySourceUnavailable("the token's key is being fetched")
            self._fetch(kid)
            key = self._keys.get(kid)
            if key is not None:
                return key
        now = self._clock()
        if self._unknown.get(kid, now) is None and self._last_failed:
            raise KeySourceUnavailable("the key endpoint failed and the token's key is not cached")
        raise UnknownKey("the key endpoint has no key with the token's kid")

    async def aprepare(self, kid: str) -> None:
        """Fetch in a worker thread if ``key_for(kid)`` would need to; never blocks the loop."""
        if self._keys.get(kid) is None and self._needs_fetch(kid):
            await asyncio.to_thread(self._fetch, kid)

    # -- fetching -----------------------------------------------------------------------

    def _needs_fetch(self, kid: str) -> bool:
        now = self._clock()
        if self._unknown.get(kid, now) is not None:
            return False
        # A fetch in flight counts: it may be for this very kid.
        return self._fetch_lock.locked() or self._may_attempt(now)

    def _may_attempt(self, now: float) -> bool:
        if self._last_attempt is None:
            return True
        interval = self.min_refetch_interval
        if self._last_failed and len(self._keys) == 0:
            # Down at start-up: come back soon. A 404 never shortens the wait.
            interval = min(interval, COLD_RETRY_SECONDS)
        return now - self._last_attempt >= interval

    def _fetch(self, kid: str) -> None:
        """Fetch ``kid``'s key if the limits allow; waits for a fetch in flight first."""
        if not self._fetch_lock.acquire(timeout=self.timeout * 2 + 1.0):
            return
        try:
            # Single flight: a fetch we waited for may have brought this key.
            now = self._clock()
            if self._keys.get(kid) is not None or self._unknown.get(kid, now) is not None:
                return
            if not self._may_attempt(now):
                return
            self._last_attempt = now
            try:
                key = self._download(kid)
            except _NoSuchKey as exc:
                self._last_failed = False
                self._unknown.put(
                    kid, True, now + max(self.min_refetch_interval, MIN_NEGATIVE_SECONDS)
                )
                logger.warning("edgeclaims: no key %s at %s (%s)", kid, self.display_url, exc)
            except _Outage as exc:
                self._last_failed = True
                logger.warning(
                    "edgeclaims: fetching key %s from %s failed (%s)", kid, self.display_url, exc
                )
            except Exception as exc:
                # A fault nobody foresaw is an outage too, never a 500: where
                # it happened, not the message (it may quote the answer).
                self._last_failed = True
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                logger.error(
                    "edgeclaims: fetching key %s from %s failed (unexpected %s at %s:%s)",
                    kid,
                    self.display_url,
                    type(exc).__name__,
                    frame.filename,
                    frame.lineno,
                )
            else:
                self._last_failed = False
                self._keys.put(kid, key)
        finally:
            self._fetch_lock.release()

    def _download(self, kid: str) -> Key:
        try:
            body, _ = bounded_get(
                self._opener,
                f"{self.base_url}/{kid}",
                accept="application/x-pem-file, text/plain",
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                chunk_size=4096,
            )
        except FetchFailed as exc:
            status = exc.status
            if exc.too_large or (
                status is not None and 400 <= status < 500 and status not in _TRANSIENT
            ):
                raise _NoSuchKey(str(exc)) from None
            raise _Outage(str(exc)) from None
        return Key(kid, "ES256", "ec-p256", _p256_public_key(body))


def _p256_public_key(body: bytes) -> Any:
    """The one P-256 public key a PEM answer holds, or ``_NoSuchKey``."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    if body.count(b"-----BEGIN ") != 1:
        raise _NoSuchKey("the answer is not one PEM public key")
    try:
        key = load_pem_public_key(body)
    except (ValueError, TypeError):
        raise _NoSuchKey("the answer is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise _NoSuchKey("the answer is not a P-256 public key")
    return key
