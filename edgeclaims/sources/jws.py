"""The ``jws`` source: a signed JWT (compact JWS) in one header, spec/signed-headers.md §2.

    X-Edge-Jwt: <header>.<payload>.<signature>

or, with ``bearer = true``, ``Authorization: Bearer <compact JWS>``. The
token is verified under edgeclaims' rules, not the token's: the algorithm is
one the configuration allows *and* the one its key is bound to (``none``
never exists), ``jku``/``x5u``/``jwk``/``x5c`` in the header are ignored for
key selection, an unknown ``crit`` is refused, and only the compact form with
three canonical base64url segments is read (:mod:`edgeclaims.jose`).

Configuration keys (``[[edgeclaims.sources]]`` with ``type = "jws"``):

``name``
    Unique source name (default ``"jws"``).
``header``
    The header holding the token (default ``"X-Edge-Jwt"``).
``bearer``
    ``true``: read ``Authorization: Bearer`` instead of ``header``. Then any
    Authorization header selects this source, a non-Bearer one is refused,
    and Authorization is removed before the app sees the request (like every
    identity header).
``issuer`` / ``audience``
    A string or a list. ``iss`` must equal one of the issuers exactly (never a
    substring); ``aud`` (string or list) must hold one of the audiences. A
    token with an ``aud`` is refused when no audience is configured (RFC 7519
    §4.1.3). Configuring neither logs a start-up warning.
``algorithms``
    Allowed JOSE algorithms: HS256/384/512, RS256/384/512, PS256/384/512,
    ES256/384/512, EdDSA (Ed25519). Default: the algorithms of the configured
    keys; for ``jwks_url``, every asymmetric algorithm (each key is still
    bound to one). ``none`` is refused.
``keys``
    Inline keys, the same entries as the ``rfc9421`` source but with JOSE
    ``alg`` names: ``{id, alg, secret|secret_env|secret_file|public_key|
    public_key_file|jwk}``. HMAC secrets at least as long as the hash.
``jwks_file``
    A JWK Set file (every entry must be usable; ``oct`` secrets allowed).
``jwks_url``
    A JWK Set URL (https; http only to a loopback host). Exactly one of
    ``keys``, ``jwks_file`` and ``jwks_url``.
``leeway``
    Seconds of clock skew allowed on ``exp``, ``nbf``, ``iat`` (default 5,
    for our own edge; third-party tokens usually want 30).
``max_age``
    Optional: refuse when ``now - iat`` exceeds it (``iat`` then required).
``typ``
    Optional: the header ``typ`` required (e.g. ``"JWT"``, ``"at+jwt"``;
    compared case-insensitively, ``application/`` optional, RFC 7515 §4.1.9).
``bind_request``
    ``true``: the token must carry ``htm`` and ``htu`` (RFC 9449 names) and
    they must match the request's method and scheme+authority+path. Without
    it they are checked only when present.
``htu_scheme``
    The scheme ``htu`` is compared with when the app sees another one than
    the client used (TLS ended before the app); default the request's scheme.
``replay_jti``
    ``true``: each ``jti`` is accepted once, through the configured replay
    store, for as long as the token is valid. Default ``false``, whatever
    the replay store: third-party tokens are sent again on every request by
    design, so only a per-request token (our edge's) can use it. Needs a
    replay store.
``cache_size``
    Verified-token cache entries (default 16384; 0 disables). The same token
    seen again within its lifetime skips the signature check (an asymmetric
    verify costs 20–100 µs) but not the claims' decoding; never used with
    ``replay_jti`` or request binding. Size it above the number of tokens
    live at once per process — third-party edges (ALB, IAP, Access) send a
    session's token on every request, so about one per active user within
    the token lifetime. Each entry costs the token text and a little more,
    roughly 1–2 KiB: the default holds up to about 16–32 MiB.
``max_token_bytes``
    Larger tokens are refused with ``too_large`` (default 16384).
JWKS URL settings (only with ``jwks_url``; see :class:`edgeclaims.jwks_client.JWKSClient`)
    ``min_refetch_interval`` (60 s between fetches for unknown kids),
    ``max_stale`` (3600 s of last-known-good keys past their lifetime when
    the endpoint fails), ``cache_ttl_min``/``cache_ttl_max`` (60 s / 86400 s
    bounds on ``Cache-Control: max-age``), ``timeout`` (3 s), ``prefetch``
    (``true``: fetch at start-up; a failure is logged, not fatal),
    ``negative_cache_size`` (1024 kids remembered as unknown until the next
    fetch may happen).

**Security**: whoever holds a configured key (or controls the JWKS URL) can
assert any identity; keep the URL https and pinned in configuration.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgeclaims.caches import BoundedCache
from edgeclaims.config_table import Table
from edgeclaims.encoding import b64url_decode
from edgeclaims.errors import (
    AlgorithmNotAllowed,
    AmbiguousHeader,
    BadAudience,
    BadIssuer,
    BadSignature,
    BindingMismatch,
    ConfigurationError,
    Expired,
    MalformedHeader,
    MissingIdentity,
    NotYetValid,
    UnsupportedComponent,
    VerificationError,
)
from edgeclaims.jose import (
    ALGORITHMS,
    CompactJWS,
    decode_json_object,
    looks_compact,
    parse_compact,
)
from edgeclaims.jwks import (
    ASYMMETRIC_ALGORITHMS,
    KeyResolver,
    StaticKeySet,
    load_jwks_file,
    roca_vulnerable,
)
from edgeclaims.jwks_client import JWKSClient
from edgeclaims.keys import Key, load_key
from edgeclaims.request import RequestView
from edgeclaims.sources import (
    Assertion,
    ReplayTicket,
    Source,
    Trace,
    read_subject_settings,
    subject_of,
)

__all__ = ["JWSSource", "from_table"]

logger = logging.getLogger("edgeclaims")

_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
MAX_JTI_LENGTH = 256
#: Verified tokens kept per source: one per user active within a token's life.
DEFAULT_CACHE_SIZE = 16384
#: The longest a jti is remembered, whatever the token's exp says (400 days).
MAX_REPLAY_TTL = 400 * 86400.0
#: Seconds a jti is remembered past the last instant its token verifies: never
#: shortens retention, absorbs float rounding, Redis's whole milliseconds and
#: clocks of servers sharing a store reading slightly apart (as in rfc9421).
REPLAY_MARGIN = 1.0
_FAR_FUTURE = 10**15


@dataclass(frozen=True, eq=False)
class JWSSource(Source):
    """Verifies the JWS profile of spec/signed-headers.md §2."""

    name: str
    keys: KeyResolver
    algorithms: frozenset[str]
    header: str = "x-edge-jwt"
    bearer: bool = False
    issuers: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    subject_claim: str = "sub"
    required_claims: tuple[str, ...] = ()
    leeway: int = 5
    max_age: int | None = None
    typ: str | None = None
    bind_request: bool = False
    htu_scheme: str | None = None
    replay_jti: bool = False
    cache_size: int = DEFAULT_CACHE_SIZE
    max_token_bytes: int = 16384
    type: str = "jws"
    #: Tokens whose signature and claims verified: token → (key, valid until).
    #: An asymmetric verify costs 20–100 µs; a session repeats its token.
    _cache: BoundedCache[str, Key] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        unknown = [alg for alg in self.algorithms if alg not in ALGORITHMS]
        if unknown:
            raise ValueError(f"unsupported JWS algorithms: {', '.join(sorted(unknown))}")
        # A cached verdict cannot see a second use (jti) or another request (htm/htu).
        if self.cache_size > 0 and not self.replay_jti and not self.bind_request:
            object.__setattr__(self, "_cache", BoundedCache(self.cache_size))

    @property
    def trigger_headers(self) -> tuple[str, ...]:
        return ("authorization",) if self.bearer else (self.header,)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return self.trigger_headers

    def risks(self) -> tuple[tuple[str, str], ...]:
        """W016: neither issuer nor audience is checked."""
        if not self.issuers and not self.audiences:
            return (
                (
                    "W016",
                    "neither issuer nor audience is set: any token signed by its keys is "
                    "accepted, whoever it was issued for",
                ),
            )
        return ()

    @property
    def configured_keys(self) -> tuple[Key, ...]:
        return tuple(self.keys.keys.values()) if isinstance(self.keys, StaticKeySet) else ()

    # -- verification ----------------------------------------------------------------

    def verify(self, view: RequestView, now: float, trace: Trace | None = None) -> Assertion:
        token = self._read_token(view)
        cache = self._cache
        if cache is not None:
            # The entry expires with the token (exp, or iat + max_age), and
            # iss, aud and typ cannot change within one token text.
            known = cache.get(token, now)
            if known is not None and self.keys.is_current(known):
                if trace:
                    trace("cache", "token verified before and still valid: signature not rechecked")
                claims = decode_json_object(_payload_of(token), "token payload")
                subject = self.subject_for(claims)
                return Assertion(claims, known.id or None, None, subject)
        jws, key = self.verify_signature(token, trace)

        # Only now, with the signature verified, is anything in the claims read.
        claims = decode_json_object(jws.payload(), "token payload")
        valid_until = self._check_claims(claims, now)
        subject = self.subject_for(claims)
        if trace:
            trace("claims", f"JSON object with {len(claims)} claims; time, iss, aud pass")
        bound = "htm" in claims or "htu" in claims
        if bound or self.bind_request:
            self._check_binding(claims, view)
            if trace:
                trace("binding", "htm and htu match the request")
        ticket = None
        if self.replay_jti:
            jti = claims.get("jti")
            if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
                raise MalformedHeader("the token has no usable jti (replay protection)")
            # Remember the jti past the last instant the token verifies:
            # _check_claims accepts `valid_until` itself, so a replay at
            # exactly that instant must still find it, hence the margin
            # (issue #11, item 11). Capped: a store cannot keep "forever".
            # `leeway` more for a process sharing the store whose clock runs behind.
            margin = self.leeway + REPLAY_MARGIN
            ttl = min(max(valid_until - now, 0.0) + margin, MAX_REPLAY_TTL)
            ticket = ReplayTicket(key.id, jti, ttl)
        elif cache is not None and not bound:
            cache.put(token, key, valid_until)
        return Assertion(claims, key.id or None, ticket, subject)

    def subject_for(self, claims: Mapping[str, Any]) -> str:
        """The subject of verified claims (:func:`subject_of`); a provider may refine it."""
        return subject_of(claims, self.subject_claim, self.required_claims)

    def verify_signature(self, token: str, trace: Trace | None = None) -> tuple[CompactJWS, Key]:
        """Parse a compact JWS and check its header and signature (no claims).

        The JWS layer on its own, for tokens whose payload is not a JWT
        (RFC 7515 Appendix A.4, Wycheproof); :meth:`verify` builds on it.
        """
        jws = parse_compact(token, max_bytes=self.max_token_bytes)
        header = jws.header
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise MalformedHeader("the token header has no alg")
        # Before any key lookup: a "none" (in any casing) or a foreign alg
        # never reaches a key, let alone a JWKS fetch.
        if alg not in self.algorithms:
            raise AlgorithmNotAllowed("the token's alg is not an allowed algorithm")
        if "crit" in header:
            # RFC 7515 §4.1.11: extensions we do not implement must fail.
            raise UnsupportedComponent("the token marks header parameters critical (crit)")
        if "b64" in header:
            raise UnsupportedComponent("unencoded payloads (RFC 7797 b64) are not supported")
        if self.typ is not None and _media_type(header.get("typ")) != _media_type(self.typ):
            raise MalformedHeader("the token's typ is not the configured type")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > 256):
            raise MalformedHeader("the token's kid is not a key id")
        # jku, x5u, jwk and x5c are never read: the key comes from configuration.
        key = self.keys.key_for(kid)
        if key.alg != alg:
            raise AlgorithmNotAllowed("the token's alg is not the algorithm its key is bound to")
        if trace:
            trace("key", f"kid {kid!r} → {key.alg}")
        if not ALGORITHMS[alg].verify(key.material, jws.signing_input, jws.signature):
            raise BadSignature("the token signature does not verify")
        if trace:
            trace("signature", "verifies")
        return jws, key

    async def aprepare(self, view: RequestView) -> None:
        """Fetch JWKS keys this request will need, in a worker thread (never raises).

        For the ASGI path: call before :meth:`verify` so that ``verify`` (sync,
        on the event loop) finds the keys in memory and never does network I/O.
        """
        if not self.keys.fetches:
            return
        try:
            token = self._read_token(view)
            if self._cache is not None and self._cache.get(token, float("-inf")) is not None:
                return
            header = parse_compact(token, max_bytes=self.max_token_bytes).header
        except VerificationError:
            return  # verify will refuse it, without any key
        kid = header.get("kid")
        if header.get("alg") not in self.algorithms or not (kid is None or isinstance(kid, str)):
            return
        await self.keys.aprepare(kid)

    def _read_token(self, view: RequestView) -> str:
        if self.bearer:
            value = view.header("authorization")
            if value is None:
                raise MissingIdentity("no Authorization header")
            scheme, _, token = value.partition(" ")
            token = token.lstrip(" ")
            if scheme.lower() != "bearer" or not token:
                raise MalformedHeader("the Authorization header is not a Bearer token")
        else:
            found = view.header(self.header)
            if found is None:
                raise MissingIdentity(f"no {self.header} header")
            token = found
        if "," in token and all(looks_compact(part.strip()) for part in token.split(",")):
            # Two field lines that the server joined with ", " (waitress does).
            raise AmbiguousHeader("the token header arrived more than once")
        return token

    def _check_claims(self, claims: Mapping[str, Any], now: float) -> float:
        """Time, issuer and audience checks; returns until when the token stays valid."""
        exp = claims.get("exp")
        if exp is None:
            raise MalformedHeader("the token has no exp claim")
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise MalformedHeader(f"claim {name} is not a number")
        leeway = self.leeway
        if now > exp + leeway:
            raise Expired("the token is past its exp")
        # min() before float(): an exp of 10**400 is an int float() refuses.
        valid_until = float(min(exp + leeway, _FAR_FUTURE))
        nbf = claims.get("nbf")
        if nbf is not None and nbf > now + leeway:
            raise NotYetValid("the token is before its nbf")
        iat = claims.get("iat")
        if iat is not None and iat > now + leeway:
            raise NotYetValid("the token was issued in the future")
        if self.max_age is not None:
            if iat is None:
                raise MalformedHeader("the token has no iat claim (max_age is configured)")
            if now - iat > self.max_age + leeway:
                raise Expired("the token is older than max_age")
            valid_until = min(valid_until, float(min(iat + self.max_age + leeway, _FAR_FUTURE)))
        if self.issuers:
            iss = claims.get("iss")
            # Exact match only: never a prefix, substring or case-folded form.
            if not isinstance(iss, str) or iss not in self.issuers:
                raise BadIssuer("the token's iss is not a configured issuer")
        aud = claims.get("aud")
        if self.audiences:
            audiences = aud if isinstance(aud, list) else [aud]
            if not any(isinstance(a, str) and a in self.audiences for a in audiences):
                raise BadAudience("the token's aud holds no configured audience")
        elif aud is not None:
            raise BadAudience("the token has an aud claim but the source configures no audience")
        return valid_until

    def _check_binding(self, claims: Mapping[str, Any], view: RequestView) -> None:
        htm = claims.get("htm")
        htu = claims.get("htu")
        if self.bind_request and (htm is None or htu is None):
            raise BindingMismatch("the token is not bound to a request (htm and htu required)")
        if htm is not None and (not isinstance(htm, str) or htm != view.method):
            raise BindingMismatch("the token's htm is not the request method")
        if htu is not None:
            expected = _normalize_htu(
                f"{self.htu_scheme or view.scheme}://{view.authority}{view.raw_path}"
            )
            if not isinstance(htu, str) or _normalize_htu(htu) != expected or expected is None:
                raise BindingMismatch("the token's htu is not the request URI")


def _media_type(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    lowered = value.strip().lower()
    return lowered[len("application/") :] if lowered.startswith("application/") else lowered


def _normalize_htu(url: str) -> str | None:
    """scheme://authority/path, normalized as RFC 9449 §4.3 asks (RFC 3986 §6.2.2–6.2.3)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    authority = parts.netloc.lower()
    if not scheme or not authority or "@" in authority:
        return None
    default = _DEFAULT_PORTS.get(scheme)
    if default and authority.endswith(":" + default) and not authority.endswith("]"):
        authority = authority[: -len(default) - 1]
    path = _PERCENT.sub(_normalize_escape, parts.path) or "/"
    return f"{scheme}://{authority}{path}"


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(0)[1:], 16))
    return char if char in _UNRESERVED else match.group(0).upper()


# -- configuration ------------------------------------------------------------------

_URL_ONLY = (
    "min_refetch_interval",
    "max_stale",
    "cache_ttl_min",
    "cache_ttl_max",
    "timeout",
    "prefetch",
    "negative_cache_size",
)


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> JWSSource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    bearer = table.bool("bearer", False)
    if bearer and "header" in table:
        raise table.error("header", "give either header or bearer = true, not both")
    header = table.str("header", "X-Edge-Jwt").lower()
    if not _HEADER_NAME.fullmatch(header) or "_" in header:
        raise table.error("header", "must be a header name made of letters, digits and '-'")
    algorithms = _algorithms(table)
    keys = _key_resolver(table, algorithms, base_dir)
    if algorithms is None:
        algorithms = (
            frozenset(key.alg for key in keys.keys.values())
            if isinstance(keys, StaticKeySet)
            else ASYMMETRIC_ALGORITHMS
        )
    replay_jti = table.bool("replay_jti", False)
    if replay_jti and not replay_enabled:
        raise table.error("replay_jti", "needs a replay store ([edgeclaims.replay] store)")
    issuers = table.str_list("issuer", ())
    audiences = table.str_list("audience", ())
    name = table.str("name", "jws")
    if not issuers and not audiences:
        logger.warning(
            "edgeclaims: source %r checks neither issuer nor audience: any token signed by "
            "its keys is accepted, whoever it was issued for",
            name,
        )
    max_age = table.int("max_age", minimum=1) if "max_age" in table else None
    typ = table.optional_str("typ")
    htu_scheme = table.optional_str("htu_scheme")
    if htu_scheme is not None and htu_scheme not in ("http", "https"):
        raise table.error("htu_scheme", "must be 'http' or 'https'")
    subject_claim, required_claims = read_subject_settings(table)
    return JWSSource(
        name=name,
        subject_claim=subject_claim,
        required_claims=required_claims,
        keys=keys,
        algorithms=algorithms,
        header=header,
        bearer=bearer,
        issuers=issuers,
        audiences=audiences,
        leeway=table.int("leeway", 5, minimum=0),
        max_age=max_age,
        typ=typ,
        bind_request=table.bool("bind_request", False),
        htu_scheme=htu_scheme,
        replay_jti=replay_jti,
        cache_size=table.int("cache_size", DEFAULT_CACHE_SIZE, minimum=0),
        max_token_bytes=table.int("max_token_bytes", 16384, minimum=256),
    )


def _algorithms(table: Table) -> frozenset[str] | None:
    if "algorithms" not in table:
        return None
    names = table.str_list("algorithms")
    if not names:
        raise table.error("algorithms", "must not be empty")
    for index, name in enumerate(names):
        where = f"{table.child_path('algorithms')}[{index}]"
        if name.lower() == "none":
            raise ConfigurationError(where, "'none' is never allowed")
        if name not in ALGORITHMS:
            raise ConfigurationError(
                where, f"unsupported algorithm {name!r}; use one of {', '.join(ALGORITHMS)}"
            )
    return frozenset(names)


def _key_resolver(
    table: Table, algorithms: frozenset[str] | None, base_dir: Path
) -> StaticKeySet | JWKSClient:
    given = [name for name in ("keys", "jwks_file", "jwks_url") if name in table]
    if len(given) != 1:
        raise ConfigurationError(table.path, "give exactly one of keys, jwks_file, jwks_url")
    if given[0] != "jwks_url":
        for name in _URL_ONLY:
            if name in table:
                raise table.error(name, "applies only with jwks_url")
    if given[0] == "keys":
        keys = _inline_keys(table, algorithms, base_dir)
    elif given[0] == "jwks_file":
        path = Path(table.str("jwks_file"))
        keys = load_jwks_file(
            path if path.is_absolute() else base_dir / path,
            table.child_path("jwks_file"),
            algorithms=algorithms,
        )
    else:
        return _jwks_client(table, algorithms)
    if algorithms is not None:
        for key in keys.values():
            if key.alg not in algorithms:
                raise table.error(
                    given[0], f"key {key.id!r} is for {key.alg}, which algorithms does not allow"
                )
    return StaticKeySet(keys)


def _inline_keys(table: Table, algorithms: frozenset[str] | None, base_dir: Path) -> dict[str, Key]:
    kinds = {name: algorithm.key_kind for name, algorithm in ALGORITHMS.items()}
    key_tables = table.tables("keys")
    if not key_tables:
        raise table.error("keys", "at least one key is required")
    keys: dict[str, Key] = {}
    for key_table in key_tables:
        jwk = key_table.raw("jwk") if "jwk" in key_table else None
        alg = key_table.raw("alg")
        if isinstance(jwk, Mapping) and "alg" in jwk and jwk["alg"] != alg:
            raise key_table.error("jwk", "the JWK's alg differs from the entry's alg")
        key = load_key(key_table, kinds=kinds, base_dir=base_dir)
        algorithm = ALGORITHMS[key.alg]
        material = key.material
        if isinstance(material, bytes) and len(material) < algorithm.min_secret_bytes:
            raise key_table.error(
                "alg", f"{key.alg} secrets must be at least {algorithm.min_secret_bytes} bytes"
            )
        if key.kind == "rsa" and roca_vulnerable(material.public_numbers().n):  # type: ignore[union-attr]
            raise key_table.error("alg", "the RSA key has the ROCA fingerprint (CVE-2017-15361)")
        if key.id in keys:
            raise key_table.error("id", f"duplicate key id {key.id!r}")
        keys[key.id] = key
    return keys


def _jwks_client(table: Table, algorithms: frozenset[str] | None) -> JWKSClient:
    where = table.child_path("jwks_url")
    cache_ttl_min = table.number("cache_ttl_min", 60.0, minimum=0.0)
    cache_ttl_max = table.number("cache_ttl_max", 86400.0, minimum=1.0)
    if cache_ttl_min > cache_ttl_max:
        raise table.error("cache_ttl_min", "is larger than cache_ttl_max")
    if algorithms is not None and any(ALGORITHMS[a].key_kind == "secret" for a in algorithms):
        raise table.error("algorithms", "HMAC algorithms cannot use keys from a JWKS URL")
    client = JWKSClient(
        table.str("jwks_url"),
        algorithms=algorithms,
        timeout=table.number("timeout", 3.0, minimum=0.1),
        cache_ttl_min=cache_ttl_min,
        cache_ttl_max=cache_ttl_max,
        min_refetch_interval=table.number("min_refetch_interval", 60.0, minimum=0.0),
        max_stale=table.number("max_stale", 3600.0, minimum=0.0),
        negative_cache_size=table.int("negative_cache_size", 1024, minimum=1),
        where=where,
    )
    if table.bool("prefetch", False) and not client.refresh():
        logger.warning(
            "edgeclaims: prefetching %s failed; keys will be fetched on first use",
            client.display_url,
        )
    return client


def _payload_of(token: str) -> bytes:
    """The decoded payload of a token that verified before (so well-formed)."""
    return b64url_decode(token.split(".", 2)[1])
