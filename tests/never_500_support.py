"""Requests as servers hand them over, and the one rule for what may come back.

Support for tests/test_never_500.py (issue #11, "never a 500"):

* **strategies** — hypothesis draws a :class:`Probe`: a method, a raw
  request target, header lines exactly as sent (case, underscores,
  repeats, huge, empty and latin-1 values), a body, a peer, a mount. About
  two thirds are *signed* as the edge signs them (``edgeclaims.signer`` for
  RFC 9421, ``edgeclaims.jose.sign_jws`` for the JWS source, in
  ``X-Edge-Jwt`` or ``Authorization: Bearer``), over whatever method,
  target and claims were drawn, and then perhaps changed in one or two
  places (a flipped character, a dropped, repeated or respelled line, a
  different path, ...), so the claims, roles, replay and binding checks
  run, not only the "missing" and "malformed" front door;
* **builders** — the PEP 3333 environ a WSGI server builds (waitress,
  gunicorn, wfastcgi under IIS, a bare CGI gateway) and the ASGI http or
  websocket scope a server builds (``raw_path`` bytes, header lines as
  byte pairs that may repeat);
* **verdicts** — :func:`refusal_code` and :func:`verdict`: the only
  answers are the app's own and a refusal whose body is the problem
  document with a documented code and status.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import json
import logging
import re
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_to_bytes

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st
from tables import EC_KEY, EC_PUBLIC_PEM, HMAC_KEY, HMAC_SECRET, NOW, OTHER_SECRET

from edgeclaims.engine import Engine
from edgeclaims.identity import Identity
from edgeclaims.jose import sign_jws
from edgeclaims.logs import JSONFormatter
from edgeclaims.request import RequestView
from edgeclaims.signer import SigningKey, sign_request

__all__ = [
    "AUDIENCE",
    "DOCUMENTED_STATUS",
    "ENCODINGS",
    "HOST",
    "ISSUER",
    "JWS_SECRET",
    "NOW",
    "WSGI_SERVERS",
    "DecisionLog",
    "Probe",
    "Reply",
    "Tally",
    "asgi_scope",
    "call_asgi_http",
    "call_asgi_websocket",
    "call_wsgi",
    "config_mapping",
    "probes",
    "read_claims",
    "refusal_code",
    "reproduce_unexpected",
    "verdict",
    "websocket_verdict",
    "wsgi_environ",
]

# -- the documented refusals (README "What is refused, and how") -----------------------

#: Every stable code and its status: 401, except ``ambiguous_request`` 400,
#: ``forbidden`` 403, ``too_large`` 431 and the ``*_unavailable`` 503.
#: ``key_source_unavailable`` is in spec/signed-headers.md; ``incomplete_claims``
#: (a signed identity that names no one) is being added to the README.
DOCUMENTED_STATUS: dict[str, int] = {
    "missing": 401,
    "malformed": 401,
    "ambiguous": 401,
    "ambiguous_request": 400,
    "insufficient_coverage": 401,
    "unsupported": 401,
    "unknown_key": 401,
    "algorithm_not_allowed": 401,
    "bad_signature": 401,
    "expired": 401,
    "not_yet_valid": 401,
    "bad_issuer": 401,
    "bad_audience": 401,
    "binding_mismatch": 401,
    "replayed": 401,
    "replay_store_unavailable": 503,
    "key_source_unavailable": 503,
    "untrusted_peer": 401,
    "too_large": 431,
    "forbidden": 403,
    "incomplete_claims": 401,
}
REFUSAL_STATUSES = frozenset(DOCUMENTED_STATUS.values())
PROBLEM = "application/problem+json"
#: RFC 6455 §7.4.1: the close code of a refused handshake.
WS_POLICY_VIOLATION = 1008

# -- keys and configurations -----------------------------------------------------------

HOST = "app.example.com"
ISSUER = "https://edge.example.com"
AUDIENCE = "orders-app"
JWS_SECRET = bytes(range(64, 96))
JWS_EC = ec.derive_private_key(0x1E55_5EED, ec.SECP256R1())
JWS_EC_PEM = (
    JWS_EC.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
OTHER_EC = ec.derive_private_key(0xBAD_C0DE, ec.SECP256R1())

ROLES: dict[str, object] = {
    "admin": ["groups=okta-admins"],
    "staff": ["groups=staff"],
    "auditor": [{"claim": ["https://example.com/claims", "roles"], "equals": "audit"}],
    "editor": {"any": ["realm_access.roles=edit*"], "includes": ["staff"]},
    "verified": {"all": ["email=*@example.com", "email_verified=true"]},
    "level3": ["level=3"],
    "member": ["authenticated"],
}
PERMISSIONS = {
    "admin": ["orders:read", "orders:write"],
    "staff": ["orders:read"],
    "auditor": ["reports:read"],
}
#: ``/open/*`` is public to the route policy: only the views' own decorators guard it.
ROUTES: dict[str, object] = {
    "/admin/*": ["admin"],
    "GET /reports/*": ["admin", "reports:read"],
    "POST,PUT /orders/*": ["orders:write"],
    "/api/*": "authenticated",
    "/healthz": "public",
    "/open/*": "public",
}


def _rfc9421(**options: object) -> dict[str, object]:
    return {
        "type": "rfc9421",
        "keys": [
            {"id": HMAC_KEY.id, "alg": "hmac-sha256", "secret": "hex:" + HMAC_SECRET.hex()},
            {"id": EC_KEY.id, "alg": "ecdsa-p256-sha256", "public_key": EC_PUBLIC_PEM},
        ],
        **options,
    }


def _jws(**options: object) -> dict[str, object]:
    return {
        "type": "jws",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": [
            {"id": "hs-1", "alg": "HS256", "secret": "hex:" + JWS_SECRET.hex()},
            {"id": "es-1", "alg": "ES256", "public_key": JWS_EC_PEM},
        ],
        **options,
    }


def config_mapping(name: str, *, sqlite_path: str | None = None) -> dict[str, object]:
    """The three deployments the middleware runs under.

    ``main``: both sources, an in-memory replay store, the roles and routes
    above (the framework apps use it too). ``iis``: wfastcgi behind URL
    Rewrite (``trust_original_url``), ``path_form = "normalized"``, a
    Bearer JWS bound to the request with jti replay, ``trusted_peers``,
    a SQLite replay store, issuer/audience and a required claim on the
    RFC 9421 source. ``monitor``: ``main`` in monitor mode.
    """
    common: dict[str, object] = {
        "public_paths": ["/healthz", "/static/*"],
        "roles": ROLES,
        "permissions": PERMISSIONS,
        "routes": ROUTES,
        "request_id_header": "X-Request-Id",
    }
    if name == "main":
        return {**common, "sources": [_rfc9421(), _jws()], "replay": {"store": "memory"}}
    if name == "monitor":
        return {
            **common,
            "mode": "monitor",
            "sources": [_rfc9421(), _jws()],
            "replay": {"store": "memory"},
        }
    if name == "iis":
        assert sqlite_path is not None
        return {
            **common,
            "trust_original_url": True,
            "trusted_peers": ["127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32"],
            "require_identity": False,
            "sources": [
                _rfc9421(
                    path_form="normalized",
                    issuer=[ISSUER],
                    audience=[AUDIENCE, "other-app"],
                    required_claims=["email"],
                    max_claims_bytes=1024,
                    max_age=60,
                ),
                _jws(
                    bearer=True,
                    bind_request=True,
                    replay_jti=True,
                    typ="JWT",
                    max_token_bytes=4096,
                    max_age=600,
                ),
            ],
            "replay": {"store": "sqlite", "path": sqlite_path},
        }
    raise ValueError(name)


# -- the request ---------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request as it reaches the origin's server.

    ``target`` is the raw request target (path and query, still
    percent-encoded; latin-1 text standing for the bytes). ``headers`` are
    the field lines in order, names spelled as sent. ``mount`` is the
    prefix the app is mounted under (``SCRIPT_NAME``, ``root_path``).
    ``signed`` says how the identity headers were made (for the summary).
    """

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    scheme: str = "https"
    peer: str | None = "127.0.0.1"
    mount: str = ""
    signed: str = "none"
    #: Send the request twice: the second is a replay.
    repeat: bool = False
    #: The websocket denial-response extension (ASGI spec 2.4).
    ws_http_response: bool = False

    def __repr__(self) -> str:
        # What a failing example prints: short enough to read, exact enough to replay.
        def short(value: str) -> str:
            return (
                value if len(value) <= 200 else f"{value[:60]}…({len(value)} chars)…{value[-20:]}"
            )

        lines = ", ".join(f"({n!r}, {short(v)!r})" for n, v in self.headers)
        return (
            f"Probe(method={self.method!r}, target={short(self.target)!r}, headers=({lines}), "
            f"body={self.body[:40]!r}{'…' if len(self.body) > 40 else ''}, "
            f"scheme={self.scheme!r}, peer={self.peer!r}, mount={self.mount!r}, "
            f"signed={self.signed!r}, repeat={self.repeat!r}, "
            f"ws_http_response={self.ws_http_response!r})"
        )


# -- strategies: pieces ------------------------------------------------------------

#: Header values a server can hand over: any latin-1 byte but CR, LF and NUL.
LATIN1 = st.characters(min_codepoint=1, max_codepoint=255, exclude_characters="\r\n")
#: Characters of a raw request target on the wire: no whitespace, no NUL.
TARGET_CHARS = st.characters(
    min_codepoint=1, max_codepoint=255, exclude_characters="\t\n\x0b\x0c\r \x85\xa0/?"
)
#: Printable ASCII a signed target may hold (``urlsplit`` keeps all of it but ``#``).
SIGNABLE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "/?#")
TOKEN = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

#: Segments of paths with one reading: the routes, the guarded views, anything plain.
PLAIN_SEGMENTS = [
    "admin",
    "users",
    "healthz",
    "whoami",
    "open",
    "roles-admin",
    "any-role",
    "perm-read",
    "perm-write",
    "identity",
    "async-admin",
    "cbv-admin",
    "reports",
    "q3",
    "orders",
    "7",
    "api",
    "static",
    "app",
    "ws",
]
PLAIN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_~"
#: Segments that give a path several readings, or none, or odd bytes.
ODD_SEGMENTS = [
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E",
    ".%2e",
    "..%2f",
    "%2f",
    "%2F",
    "a%20b",
    "%00",
    "%ff",
    "%c3%a9",
    "%5c",
    "\\",
    ";x=1",
    "*",
    "%",
    "%zz",
    "%252e",
    "admin;jsessionid=1",
    "ADMIN",
    "admin.",
]
UNSIGNABLE_SEGMENTS = ["é", "\xff", "%e9", "\x7f", "\x01", "admin\xa0", "#frag"]

IDENTITY_NAMES = ("X-Edge-Claims", "Signature-Input", "Signature", "X-Edge-Jwt", "Authorization")
OTHER_NAMES = (
    "Host",
    "X-Original-URL",
    "X_Original_URL",
    "X-Rewrite-URL",
    "X-Request-Id",
    "Content-Type",
    "Cookie",
    "Accept",
    "X-Forwarded-For",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
)
#: Names a server manages itself (the body's framing): never drawn.
SERVER_MANAGED = frozenset({"content-length", "transfer-encoding"})

INTERESTING_VALUES = [
    "",
    " ",
    ",",
    "a, b",
    "edge=:AAAA:",
    "edge=::",
    "edge=:",
    'edge=("@method");created=1;keyid="2026-11";nonce="n";tag="edgeclaims"',
    'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
    'keyid="2026-11";nonce="x";alg="hmac-sha256";tag="edgeclaims"',
    'edge=("@method";sf);tag="edgeclaims"',
    'edge=();tag="edgeclaims";created=1;keyid=""',
    'edge=("@status");tag="edgeclaims";created=1795731572;keyid="2026-11"',
    "edge=:AAAA:, edge=:BBBB:",
    "sig1=(), sig2=()",
    "edge=?1",
    "edge=1.5",
    'edge="x"',
    "Bearer",
    "Bearer ",
    "bearer a.b.c",
    "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "Bearer eyJhbGciOiJub25lIn0.e30.",
    "eyJhbGciOiJub25lIn0.e30.",
    "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
    "a.b.c, d.e.f",
    "eyJzdWIiOiJyb290In0",
    "e30",
    "W10",
    "bnVsbA",
    "eyJzdWIiOiJyb290In0=",
    "eyJzdWIiOiJyb290In1",
    "app.example.com",
    "app.example.com, evil.example",
    "APP.EXAMPLE.COM:443",
    "[::1]:8080",
    "/admin/users",
    "/healthz?x=1",
    "http://app.example.com/admin",
    "caf\xe9",
    "\xff\xfe",
    "\x7f\x01\x1b[31m",
    "\t",
]


def _huge(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A value past every size limit, built by repetition (drawing it whole is slow)."""
    return st.builds(
        lambda unit, count: unit * count,
        st.text(alphabet, min_size=1, max_size=4),
        st.integers(min_value=1_500, max_value=40_000),
    )


HEADER_VALUES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(INTERESTING_VALUES),
    st.text(LATIN1, max_size=40),
    st.from_regex(r"[A-Za-z0-9_-]{0,120}", fullmatch=True),
    _huge(LATIN1),
)


@st.composite
def spelled(draw: st.DrawFn, name: str) -> str:
    """``name`` as some client might spell it: case, and underscores for dashes."""
    spelling = draw(_SPELLINGS)
    if spelling == "lower":
        return name.lower()
    if spelling == "upper":
        return name.upper()
    if spelling == "underscore":
        return name.replace("-", "_")
    if spelling == "lower-underscore":
        return name.lower().replace("-", "_")
    return name


HEADER_NAMES: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(IDENTITY_NAMES).flatmap(spelled),
    st.sampled_from(OTHER_NAMES),
    st.text(TOKEN, min_size=1, max_size=20).filter(lambda n: n.lower() not in SERVER_MANAGED),
)
BENIGN_NAMES: st.SearchStrategy[str] = st.sampled_from(
    ["X-Request-Id", "Accept", "Cookie", "Content-Type", "User-Agent", "X-Forwarded-For"]
) | st.text(TOKEN, min_size=1, max_size=12).filter(
    lambda n: (
        n.lower().replace("_", "-")
        not in {*SERVER_MANAGED, "host", "x-original-url", *(i.lower() for i in IDENTITY_NAMES)}
    )
)

COMMON_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
ODD_METHODS = ["get", "Post", "PROPFIND", "M-SEARCH", "CONNECT", "TRACE", "GET ", "G\xe9T", "*"]
#: Three in four a usual method; else a lower-case, unusual or made-up token.
SIGNABLE_METHODS: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(COMMON_METHODS),
    st.sampled_from(COMMON_METHODS),
    st.sampled_from(COMMON_METHODS),
    st.sampled_from(["get", "Post", "PROPFIND", "M-SEARCH", "TRACE"])
    | st.text(TOKEN, min_size=1, max_size=10),
)
ANY_METHODS: st.SearchStrategy[str] = st.one_of(
    SIGNABLE_METHODS, st.sampled_from(ODD_METHODS), st.text(LATIN1, max_size=10)
)

HOSTS = ["app.example.com", "APP.example.com", "app.example.com:443", "evil.example", "localhost"]
ODD_HOSTS = ["", "app.example.com, evil.example", "caf\xe9.example", "[::1]:8080", "a" * 300, " "]
PEERS = [
    "127.0.0.1",
    "10.1.2.3",
    "203.0.113.7",
    "203.0.113.7:52144",
    "[2001:db8::1]:443",
    "fe80::1%eth0",
    "not-an-address",
    "",
    None,
]


_SPELLINGS = st.sampled_from(["as-is", "lower", "upper", "underscore", "lower-underscore"])
_TRAILING = st.sampled_from(["", "", "/"])
_PLAIN_QUERIES = st.none() | st.text(PLAIN_CHARS + "=&%+", max_size=12)
_ODD_FORMS = st.sampled_from(["*", "http://app.example.com/admin/users", "admin", "//x"])
_EXAMPLE_QUERIES = st.sampled_from(["", "a=1&b=%20x", "admin=1"])
_SIGNABLE_QUERIES = st.text(SIGNABLE + "/?", max_size=12) | _EXAMPLE_QUERIES
_ANY_QUERIES = (
    st.text(st.one_of(TARGET_CHARS, st.sampled_from("/?")), max_size=12) | _EXAMPLE_QUERIES
)
#: The first segment names a route (public ones included) more often than not.
_PLAIN_SEGMENT_LISTS = st.builds(
    lambda first, rest: [first, *rest],
    st.sampled_from(["healthz", "open", "static", "admin", "api", "reports", "orders", "whoami"])
    | st.text(PLAIN_CHARS, min_size=1, max_size=8),
    st.lists(
        st.sampled_from(PLAIN_SEGMENTS) | st.text(PLAIN_CHARS, min_size=1, max_size=8), max_size=3
    ),
)
_SIGNABLE_SEGMENTS = st.sampled_from(PLAIN_SEGMENTS + ODD_SEGMENTS) | st.text(SIGNABLE, max_size=8)
_SIGNABLE_SEGMENT_LISTS = st.lists(_SIGNABLE_SEGMENTS, min_size=1, max_size=5)
_ANY_SEGMENT_LISTS = st.lists(
    _SIGNABLE_SEGMENTS | st.sampled_from(UNSIGNABLE_SEGMENTS) | st.text(TARGET_CHARS, max_size=6),
    min_size=1,
    max_size=5,
)
_COMMON_METHODS = st.sampled_from(COMMON_METHODS)
_USUAL_HOSTS = st.sampled_from(["app.example.com", "APP.example.com", "localhost"])
_SIGNABLE_HOSTS = st.sampled_from(HOSTS)
_ANY_HOSTS = st.sampled_from(HOSTS + ODD_HOSTS)
_USUAL_PEERS = st.sampled_from(PEERS[:2])
_ANY_PEERS = st.sampled_from(PEERS)
_KINDS = st.sampled_from(["rfc9421", "rfc9421", "jws", "bearer", "none", "none"])
_WS_SCHEMES = st.sampled_from(["wss", "ws"])
_SCHEMES = st.sampled_from(["https", "https", "http"])
_MOUNTS = st.sampled_from(["", "", "", "/app"])
_HOST_NAMES = st.sampled_from(["Host", "host", "HOST"])
_BEARER = st.sampled_from(["Bearer", "bearer"])
_BODIES = st.binary(max_size=64)
_ORIGINAL_URL_NAMES = st.sampled_from(["X-Original-URL", "X_Original_URL"])
_USUAL_KEYS = st.sampled_from(["hmac", "ecdsa"])
_USUAL_JWS_KEYS = st.sampled_from(["hs256", "es256"])
_USUAL_JWS_HEADERS = st.sampled_from([{}, {"typ": "JWT"}])


@st.composite
def targets(draw: st.DrawFn, *, signable: bool, plain: bool) -> str:
    """A raw request target: plain (one reading), or with odd segments, bytes or forms."""
    if plain:
        segments = draw(_PLAIN_SEGMENT_LISTS)
        path = "/" + "/".join(segments) + draw(_TRAILING)
        query = draw(_PLAIN_QUERIES)
        return path if query is None else f"{path}?{query}"
    if not signable and draw(st.integers(0, 5)) == 0:
        return draw(_ODD_FORMS)
    segments = draw(_SIGNABLE_SEGMENT_LISTS if signable else _ANY_SEGMENT_LISTS)
    path = "/" + "/".join(segments)
    if draw(st.booleans()):
        return path
    query = draw(_SIGNABLE_QUERIES if signable else _ANY_QUERIES)
    return f"{path}?{query}"


# -- strategies: claims -----------------------------------------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["staff", "okta-admins", "audit", "editor", "a@example.com", "3", "*"]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
#: Half a usual subject; else any text, a blank or odd one, or any JSON value.
SUBJECTS = st.one_of(
    st.sampled_from(["alice", "root", "bob@example.com"]),
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(["", "  ", "a\nb", "x" * 2000, "\u202eadmin"]),
        JSON_VALUES,
    ),
)
CLAIMS: st.SearchStrategy[dict[str, Any]] = st.builds(
    lambda fixed, extra: {**extra, **fixed},
    st.fixed_dictionaries(
        {"sub": SUBJECTS},
        optional={
            "groups": st.lists(
                st.sampled_from(["staff", "okta-admins", "x"]) | JSON_LEAVES, max_size=5
            )
            | JSON_VALUES,
            "email": st.sampled_from(["alice@example.com", "eve@evil.example"]) | JSON_LEAVES,
            "email_verified": st.booleans() | JSON_LEAVES,
            "level": st.sampled_from([3, 3.0, "3", 30]) | JSON_LEAVES,
            "realm_access": st.fixed_dictionaries(
                {"roles": st.lists(st.sampled_from(["editor", "edit", "x"]), max_size=3)}
            )
            | JSON_VALUES,
            "https://example.com/claims": st.fixed_dictionaries(
                {"roles": st.sampled_from(["audit", "x"]) | JSON_VALUES}
            ),
            "exp": st.integers(NOW - 100, NOW + 10**6) | JSON_LEAVES,
            "nbf": st.integers(NOW - 100, NOW + 100) | JSON_LEAVES,
            "iss": st.sampled_from([ISSUER, "https://evil.example"]) | JSON_LEAVES,
            "aud": st.sampled_from([AUDIENCE, [AUDIENCE, "x"], "other"]) | JSON_VALUES,
            "_claim_names": st.just({"groups": "src1"}) | JSON_VALUES,
            "hasgroups": st.booleans(),
        },
    ),
    st.dictionaries(st.text(max_size=10), JSON_VALUES, max_size=3),
)

#: Claims an edge would sign: a subject, groups the roles read, and what the
#: ``iis`` RFC 9421 source requires (iss, aud, email); sometimes more. Drawn
#: whole (one choice, not a dozen): the odd claims are ``CLAIMS``.
USUAL_CLAIMS: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {
            "sub": subject,
            "groups": groups,
            "iss": ISSUER,
            "aud": AUDIENCE if subject != "root" else [AUDIENCE, "x"],
            "email": f"{subject[:5]}@example.com",
            **extra,
        }
        for subject in ("alice", "root", "bob@example.com", "ｒｏｏｔ", "é")
        for groups in ([], ["staff"], ["okta-admins", "staff"], ["editors"], ["x", "okta-admins"])
        for extra in (
            {},
            {"email_verified": True, "level": 3},
            {"realm_access": {"roles": ["editor"]}},
            {"https://example.com/claims": {"roles": "audit"}},
            {"exp": NOW + 600, "level": 3.0},
        )
    ]
).map(copy.deepcopy)

#: Claims texts no ``json.dumps`` writes: duplicates, NaN, overflow, deep nesting, bad UTF-8.
RAW_PAYLOADS: st.SearchStrategy[bytes] = st.one_of(
    st.sampled_from(
        [
            b'{"sub":"alice","sub":"root"}',
            b'{"sub":"root","exp":1e400}',
            b'{"sub":"root","exp":-1e400,"nbf":1e400}',
            b'{"sub":"root","exp":NaN}',
            b'{"sub":"root","groups":[Infinity]}',
            b'{"sub":"root","level":3.0000000000000001}',
            b'{"sub":"root","groups":[1e400,-0.0,1E2,123456789012345678901234567890]}',
            b'{"sub":"\xff"}',
            b'{"sub":"\\ud800"}',
            b'{"sub":"a\\u0000b"}',
            b' {"sub":"alice"} ',
            b'{"sub":"alice"}x',
            b"[]",
            b"null",
            b'"root"',
            b"{}",
            b'{"sub":5}',
            b"",
            b'\xef\xbb\xbf{"sub":"alice"}',
        ]
    ),
    # Shallow only: hypothesis raises the recursion limit while it runs, so
    # deep nesting is swept at the real limit in test_never_500's regressions.
    st.integers(1, 200).map(
        lambda depth: b'{"sub":"root","groups":' + b"[" * depth + b"]" * depth + b"}"
    ),
    st.binary(max_size=40),
    st.builds(
        lambda claims: json.dumps(claims, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        CLAIMS,
    ),
)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


ENCODINGS: dict[str, Callable[[bytes], str]] = {
    "base64url": _b64url,
    "padded": lambda raw: base64.urlsafe_b64encode(raw).decode("ascii"),
    "standard": lambda raw: base64.b64encode(raw).decode("ascii"),
    "non-canonical": lambda raw: _b64url(raw)[:-1] + "B" if len(raw) % 3 else _b64url(raw),
}

# -- strategies: signing ------------------------------------------------------------
#
# Each signed probe is either *usual* (three in four: every choice the edge's
# normal one, so the signature verifies unless a change comes after) or *odd*
# (each choice drawn from everything, good and bad).

KEYS = {
    "hmac": HMAC_KEY,
    "ecdsa": EC_KEY,
    "wrong-secret": SigningKey(HMAC_KEY.id, "hmac-sha256", OTHER_SECRET),
    "unknown-id": SigningKey("2025-01", "hmac-sha256", HMAC_SECRET),
    "wrong-alg": SigningKey(EC_KEY.id, "hmac-sha256", HMAC_SECRET),
}
COMPONENTS: list[tuple[str, ...] | None] = [
    None,
    ("@method", "@authority", "@path", "@query", "x-edge-claims"),
    ("@method", "@path", "@query", "x-edge-claims"),
    ("@method", "@authority", "@path", "x-edge-claims"),
    ("@authority", "@path", "@query", "x-edge-claims", "@method"),
    (
        "@method",
        "@authority",
        "@scheme",
        "@target-uri",
        "@request-target",
        "@path",
        "@query",
        "host",
        "x-edge-claims",
    ),
    ("@method", "@authority", "@path", "@query"),
]
NONCES = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=16
) | st.sampled_from(["n-1", "", "x" * 300])


def _oddities(table: Mapping[str, object], *weighty: str) -> st.SearchStrategy[set[str]]:
    """One or two of the table's oddities; ``weighty`` ones (past the signature) thrice as often."""
    names = [*table, *weighty, *weighty]
    return st.sets(st.sampled_from(names), min_size=1, max_size=2)


def _nonce(*parts: object) -> str:
    """A nonce of its own for every distinct request: only a resent one is a replay."""
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]


RFC9421_ODDITIES: dict[str, st.SearchStrategy[Any]] = {
    "key": st.sampled_from(list(KEYS)),
    "created": st.sampled_from([-29, -36, 4, 6, 60]) | st.integers(-100, 100),
    "components": st.sampled_from(COMPONENTS[1:]),
    "expires": st.integers(NOW - 20, NOW + 60),
    "nonce": NONCES,
    "tag": st.sampled_from(["someone-else", None]),
    "label": st.sampled_from(["sig1", "a*b"]),
    "path_form": st.just("normalized"),
    "claims": CLAIMS,
    "raw-claims": st.tuples(RAW_PAYLOADS, st.sampled_from(list(ENCODINGS))),
}


@st.composite
def rfc9421_lines(draw: st.DrawFn, method: str, url: str, usual: bool) -> list[tuple[str, str]]:
    """The edge's three header lines for this request; odd ones differ in one or two ways."""
    key = KEYS[draw(_USUAL_KEYS)]
    claims = draw(USUAL_CLAIMS)
    options: dict[str, Any] = {
        "created": NOW + draw(st.integers(-25, 3)),
        "include_alg": draw(st.booleans()),
    }
    options["nonce"] = _nonce(method, url, claims, options["created"], key.id)
    oddities = [] if usual else draw(_oddities(RFC9421_ODDITIES, "created", "claims", "raw-claims"))
    raw = None
    for name in sorted(oddities):
        value = draw(RFC9421_ODDITIES[name])
        if name == "key":
            key = KEYS[value]
        elif name == "created":
            options["created"] = NOW + value
        elif name == "claims":
            claims = value
        elif name == "raw-claims":
            raw = ENCODINGS[value[1]](value[0])
        else:
            options[name] = value
    if raw is not None:
        added = sign_request(method, url, None, key, headers={"X-Edge-Claims": raw}, **options)
        return [("X-Edge-Claims", raw), *added.items()]
    return list(sign_request(method, url, claims, key, **options).items())


JWS_KEYS = {
    "hs256": ("HS256", JWS_SECRET, "hs-1"),
    "es256": ("ES256", JWS_EC, "es-1"),
    "es256-wrong-key": ("ES256", OTHER_EC, "es-1"),
    "hs256-under-es-kid": ("HS256", JWS_SECRET, "es-1"),
    "hs384": ("HS384", JWS_SECRET + JWS_SECRET[:16], "hs-1"),
    "key-confusion": ("HS256", JWS_EC_PEM.encode(), "es-1"),
    "no-kid": ("HS256", JWS_SECRET, None),
    "unknown-kid": ("HS256", JWS_SECRET, "hs-9"),
}


JWS_ODDITIES: dict[str, st.SearchStrategy[Any]] = {
    "key": st.sampled_from(list(JWS_KEYS)),
    "header": st.sampled_from(
        [{"typ": "at+jwt"}, {"typ": 5}, {"crit": ["exp"]}, {"b64": False}, {"jku": "https://x/"}]
    ),
    "payload": RAW_PAYLOADS,
    "claims": CLAIMS,
    "iss": st.sampled_from([ISSUER + "/", 7, None]),
    "aud": st.sampled_from(["other", [], None]),
    "exp": st.sampled_from([NOW - 10, NOW, 10**30, 1.5e9, True, None, "soon"])
    | st.integers(NOW - 100, NOW + 10**6),
    "iat": st.sampled_from([NOW + 60, NOW - 10**4, "x", None]),
    "nbf": st.sampled_from([NOW - 10, NOW + 60, NOW + 10**30]),
    "htm": st.sampled_from(["GET", "POST", "get", 1]),
    "htu": st.sampled_from(["not a url", "https://x/", "https://app.example.com:443/whoami"]),
    "jti": NONCES | st.sampled_from([5, "x" * 300, None]),
}


@st.composite
def jws_token(draw: st.DrawFn, method: str, url: str, usual: bool) -> str:
    """A compact JWS over claims for this request; odd ones differ in one or two ways."""
    alg, key, kid = JWS_KEYS[draw(_USUAL_JWS_KEYS)]
    header: dict[str, Any] = draw(_USUAL_JWS_HEADERS)
    claims: dict[str, Any] = draw(USUAL_CLAIMS)
    claims.update(exp=NOW + draw(st.integers(10, 3600)), iat=NOW - draw(st.integers(0, 60)))
    if draw(st.booleans()):
        # Bound to the request, as the ``iis`` deployment requires.
        claims.update(htm=method, htu=url.partition("?")[0], jti=_nonce(method, url, claims))
    payload: dict[str, Any] | bytes = claims
    oddities = [] if usual else draw(_oddities(JWS_ODDITIES, "exp", "claims", "payload", "iss"))
    for name in sorted(oddities):
        value = draw(JWS_ODDITIES[name])
        if name == "key":
            alg, key, kid = JWS_KEYS[value]
        elif name == "header":
            header = value
        elif name == "payload":
            payload = value
        elif name == "claims":
            claims = {**value, "exp": claims["exp"]}
        elif isinstance(payload, dict):
            claims[name] = value
    if isinstance(payload, dict):
        payload = {k: v for k, v in claims.items() if v is not None}
    try:
        return sign_jws(payload, kid, alg, key, header)
    except (TypeError, ValueError):
        # Not serializable as drawn (a lone surrogate): a token that is garbage instead.
        return "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"


# -- strategies: changes after signing ---------------------------------------------------


_MUTATIONS = st.sampled_from(
    [
        "flip",
        "truncate",
        "drop",
        "repeat",
        "add-line",
        "respell",
        "join",
        "pad",
        "empty",
        "target",
        "method",
        "host",
        "original-url",
    ]
)


@st.composite
def mutated(draw: st.DrawFn, probe: Probe) -> Probe:
    """The probe changed in one or two places, the way a tampering client would."""
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        lines = list(probe.headers)
        how = draw(_MUTATIONS)
        index = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if how == "target":
            odd = draw(st.booleans())
            probe = replace(probe, target=draw(targets(signable=odd, plain=not odd)))
            continue
        if how == "method":
            probe = replace(probe, method=draw(ANY_METHODS))
            continue
        if how in ("host", "original-url"):
            name = "Host" if how == "host" else draw(_ORIGINAL_URL_NAMES)
            value = draw(_ANY_HOSTS if how == "host" else targets(signable=True, plain=True))
            lines.insert(draw(st.integers(0, len(lines))), (name, value))
            probe = replace(probe, headers=tuple(lines))
            continue
        if not lines:
            continue
        name, value = lines[index]
        if how == "flip" and value:
            at = draw(st.integers(0, len(value) - 1))
            lines[index] = (name, value[:at] + draw(LATIN1) + value[at + 1 :])
        elif how == "truncate":
            lines[index] = (name, value[: draw(st.integers(0, max(len(value) - 1, 0)))])
        elif how == "drop":
            del lines[index]
        elif how == "repeat":
            lines.insert(draw(st.integers(0, len(lines))), (name, value))
        elif how == "add-line":
            lines.append((draw(spelled(name)), draw(HEADER_VALUES)))
        elif how == "respell":
            lines[index] = (draw(spelled(name)), value)
        elif how == "join":
            other = draw(st.sampled_from(lines))[1]
            lines[index] = (name, f"{value}, {other}")
        elif how == "pad":
            lines[index] = (name, f" {value}\t")
        elif how == "empty":
            lines[index] = (name, "")
        probe = replace(probe, headers=tuple(lines))
    return probe


# -- strategies: the whole request ----------------------------------------------------


@st.composite
def probes(draw: st.DrawFn, *, websocket: bool = False) -> Probe:
    """Any request a server could hand over; two in three signed by the edge's keys.

    Three independent choices keep the deep checks in reach: the request
    line and host are *plain* (three in four for a signed probe, one in two
    for an unsigned one) or odd; the signature is *usual* (every choice
    the edge's own, one in two) or differs from it in one or two ways; and
    one signed probe in four is then changed (:func:`mutated`).
    """
    signed = draw(_KINDS)
    signable = signed != "none"
    plain = draw(st.integers(0, 3)) > 0 if signable else draw(st.booleans())
    usual = signable and draw(st.booleans())
    if websocket:
        method = "GET"
        scheme = draw(_WS_SCHEMES)
    else:
        method = draw(_COMMON_METHODS if plain else SIGNABLE_METHODS if signable else ANY_METHODS)
        scheme = draw(_SCHEMES)
    mount = draw(_MOUNTS)
    target = draw(targets(signable=signable, plain=plain))
    if mount and target.startswith("/"):
        target = mount + target
    host = draw(_USUAL_HOSTS if plain else _SIGNABLE_HOSTS if signable else _ANY_HOSTS)
    lines: list[tuple[str, str]] = []
    if plain or draw(st.integers(0, 9)):
        lines.append((draw(_HOST_NAMES), host))
    url = f"{scheme.replace('ws', 'http')}://{host}{target}"
    if signed == "rfc9421":
        lines += draw(rfc9421_lines(method, url, usual))
    elif signed in ("jws", "bearer"):
        token = draw(jws_token(method, url, usual))
        if signed == "jws":
            lines.append(("X-Edge-Jwt", token))
        else:
            scheme_name = "Bearer" if usual else draw(_BEARER)
            lines.append(("Authorization", f"{scheme_name} {token}"))
    noise = draw(
        st.lists(
            st.tuples(BENIGN_NAMES if signable else HEADER_NAMES, HEADER_VALUES),
            max_size=2 if plain else 4,
        )
    )
    at = draw(st.integers(0, len(lines)))
    lines[at:at] = noise
    kind = "none" if not signable else signed if usual else f"{signed} (odd)"
    probe = Probe(
        method=method,
        target=target,
        headers=tuple(lines),
        body=b"" if websocket else draw(_BODIES),
        scheme=scheme,
        peer=draw(_USUAL_PEERS if plain else _ANY_PEERS),
        mount=mount,
        signed=kind if plain else f"{kind}, odd request",
        repeat=draw(st.integers(0, 5)) == 0,
        ws_http_response=websocket and draw(st.booleans()),
    )
    if signable and draw(st.integers(0, 3)) == 0:
        probe = draw(mutated(probe))
        probe = replace(probe, signed=f"{probe.signed}, changed")
    return probe


# -- what servers hand the app ---------------------------------------------------------

#: How each WSGI server builds the environ: where the raw target goes, whether
#: underscore-spelled headers are dropped, and whether the app may be mounted.
WSGI_SERVERS = ("waitress", "gunicorn", "wfastcgi", "cgi")


def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def wsgi_environ(probe: Probe, server: str) -> dict[str, Any]:
    """The PEP 3333 environ ``server`` builds: ``PATH_INFO`` the decoded bytes as latin-1.

    waitress puts the raw target in ``REQUEST_URI``, gunicorn in
    ``RAW_URI``, IIS in ``UNENCODED_URL`` (and wfastcgi swaps
    ``X-Original-URL`` into ``PATH_INFO``); a bare CGI gateway gives none.
    waitress and gunicorn (≥ 22) drop underscore-spelled headers; IIS and
    CGI merge them with the dashed spelling. Repeated lines are joined
    with ", ". Header values arrive without surrounding whitespace.
    """
    raw_path, _, query = probe.target.partition("?")
    routed = unquote_to_bytes(raw_path).decode("latin-1")
    mount = probe.mount if server in ("waitress", "gunicorn") else ""
    script_name, path_info = "", routed
    if mount and routed.startswith(mount + "/"):
        script_name, path_info = mount, routed[len(mount) :]
    environ: dict[str, Any] = {
        "REQUEST_METHOD": probe.method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": HOST,
        "SERVER_PORT": "443" if probe.scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": probe.scheme,
        "wsgi.input": _Input(probe.body),
        "wsgi.errors": _Errors(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if probe.peer is not None:
        environ["REMOTE_ADDR"] = probe.peer
    if probe.body:
        environ["CONTENT_LENGTH"] = str(len(probe.body))
    if server == "waitress":
        environ["REQUEST_URI"] = probe.target
    elif server == "gunicorn":
        environ["RAW_URI"] = probe.target
    elif server == "wfastcgi":
        environ["UNENCODED_URL"] = probe.target
        if probe.scheme == "https":
            environ["HTTPS"] = "on"
    for name, value in probe.headers:
        if "_" in name and server in ("waitress", "gunicorn"):
            continue
        key = _environ_key(name)
        value = value.strip(" \t")
        environ[key] = f"{environ[key]}, {value}" if key in environ else value
    original = environ.get("HTTP_X_ORIGINAL_URL")
    if server == "wfastcgi" and original is not None:
        environ["PATH_INFO"] = unquote_to_bytes(original.partition("?")[0]).decode("latin-1")
    return environ


class _Input:
    """``wsgi.input`` that remembers whether anyone read it."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.body) if size is None or size < 0 else self.position + size
        chunk = self.body[self.position : end]
        self.position += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)

    def __iter__(self) -> Any:
        return iter([self.read()])


class _Errors:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def asgi_scope(probe: Probe, *, websocket: bool = False) -> dict[str, Any]:
    """The scope uvicorn builds: ``raw_path`` as on the wire, ``path`` decoded as UTF-8.

    Header names are lower-cased, values keep their bytes (latin-1), lines
    stay apart. Under a mount, ``root_path`` is set and ``path`` and
    ``raw_path`` keep it (uvicorn's ``--root-path``).
    """
    raw_path, _, query = probe.target.partition("?")
    scope: dict[str, Any] = {
        "type": "websocket" if websocket else "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": probe.scheme,
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": probe.mount,
        "headers": [
            (name.lower().encode("latin-1"), value.strip(" \t").encode("latin-1"))
            for name, value in probe.headers
        ],
        "client": (probe.peer, 50000) if probe.peer is not None else None,
        "server": (HOST, 443 if probe.scheme in ("https", "wss") else 80),
        "state": {},
    }
    if websocket:
        scope["subprotocols"] = []
        if probe.ws_http_response:
            scope["extensions"] = {"websocket.http.response": {}}
    else:
        scope["method"] = probe.method
    return scope


# -- calling the app -------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP answer: status, header lines and the whole body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        found = [v for n, v in self.headers if n.lower() == name]
        return found[-1] if found else None


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Reply:
    """What a WSGI server does: call, read the whole iterable, close it. Exceptions escape."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, list(headers)))
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert started, "the WSGI app returned without calling start_response"
    status, headers = started[-1]
    return Reply(int(status.split(" ", 1)[0]), headers, body)


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call_asgi_http(app: ASGIApp, scope: dict[str, Any], body: bytes) -> Reply:
    """What an ASGI server does for one http request: the body, then a disconnect at the end."""
    done = asyncio.Event()
    messages: list[Mapping[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    starts = [m for m in messages if m["type"] == "http.response.start"]
    assert len(starts) == 1, f"expected one http.response.start, got {messages!r}"
    headers = [
        (bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
        for n, v in starts[0].get("headers", ())
    ]
    payload = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Reply(int(starts[0]["status"]), headers, payload)


async def call_asgi_websocket(app: ASGIApp, scope: dict[str, Any]) -> list[Mapping[str, Any]]:
    """A websocket handshake: connect, then a disconnect once the app has answered."""
    done = asyncio.Event()
    messages: list[Mapping[str, Any]] = []
    connected = False

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await done.wait()
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Mapping[str, Any]) -> None:
        messages.append(message)
        if message["type"] in ("websocket.close", "websocket.http.response.body") or (
            message["type"] == "websocket.send"
        ):
            done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return messages


# -- verdicts -------------------------------------------------------------------------


_CHALLENGE_CODE = re.compile(r'error="([a-z_]+)"')
#: Statuses only a refusal uses here: never without its problem document.
_REFUSAL_ONLY = frozenset({401, 403, 431, 503})


def _is_problem(reply: Reply) -> bool:
    return (reply.header("content-type") or "").partition(";")[0].strip() == PROBLEM


def refusal_code(reply: Reply, method: str) -> str:
    """The code of a refusal, checked against the README; fails on anything else.

    The body is exactly the problem document: type, title, status and a
    documented code whose status is the response's. A 401 carries the
    ``WWW-Authenticate`` challenge (with ``error="<code>"`` unless the code
    is ``missing``). A HEAD answer may have lost its body on the way
    (werkzeug drops it): then the status and the challenge must fit.
    """
    assert _is_problem(reply), reply
    challenge = reply.header("www-authenticate") or ""
    if reply.status == 401:
        assert challenge.startswith('EdgeClaims realm="edgeclaims"'), reply
    if not reply.body and method == "HEAD":
        assert reply.status in REFUSAL_STATUSES, reply
        found = _CHALLENGE_CODE.search(challenge)
        if found is None:
            return f"HEAD {reply.status}"
        code = found.group(1)
        assert DOCUMENTED_STATUS.get(code) == reply.status, f"{code} answered {reply.status}"
        return f"HEAD {code}"
    document = json.loads(reply.body)
    assert set(document) == {"type", "title", "status", "code"}, document
    code = document["code"]
    assert code in DOCUMENTED_STATUS, f"undocumented code {code!r}: {document}"
    assert document["status"] == reply.status == DOCUMENTED_STATUS[code], (
        f"{code} answered {reply.status} (document says {document['status']}), "
        f"documented {DOCUMENTED_STATUS[code]}"
    )
    assert document["type"] == f"https://edgeclaims.dev/errors/{code}", document
    assert isinstance(document["title"], str), document
    assert document["title"], document
    if reply.status == 401 and code != "missing":
        assert f'error="{code}"' in challenge, reply
    return str(code)


def verdict(reply: Reply, method: str, *, app_marker: str | None = None) -> str:
    """``app`` (or ``app <status>`` for the framework's own answer), or the refusal code.

    Never a 5xx, and never a 401, 403, 431 or 503 without the problem
    document (a refusal that lost its code). With ``app_marker``, an answer
    that is not a refusal must carry that header (the wrapped app answered).
    """
    assert reply.status < 500, f"answered {reply.status}: {reply.body[:2000]!r}"
    if _is_problem(reply):
        return refusal_code(reply, method)
    assert reply.status not in _REFUSAL_ONLY, f"a {reply.status} without the problem document"
    if app_marker is not None:
        assert reply.header(app_marker.lower()) == "yes", f"neither the app nor a refusal: {reply}"
    return "app" if reply.status == 200 else f"app {reply.status}"


def websocket_verdict(messages: Sequence[Mapping[str, Any]], method: str = "GET") -> str:
    """The handshake's fate: accepted by the app, closed (1008 + a documented code), or denied."""
    assert messages, "the handshake got no answer at all"
    first = messages[0]
    kind = first["type"]
    if kind == "websocket.accept":
        return "app"
    if kind == "websocket.close":
        code = first.get("code", 1000)
        assert code != 1011, f"internal error closing the handshake: {messages!r}"
        if code == WS_POLICY_VIOLATION:
            reason = first.get("reason")
            assert reason in DOCUMENTED_STATUS, f"close 1008 with reason {reason!r}"
            return str(reason)
        return f"closed {code}"
    if kind == "websocket.http.response.start":
        headers = [
            (bytes(n).decode("latin-1"), bytes(v).decode("latin-1"))
            for n, v in first.get("headers", ())
        ]
        body = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "websocket.http.response.body"
        )
        return verdict(Reply(int(first["status"]), headers, body), method)
    raise AssertionError(f"unexpected first message {first!r}")


def read_claims(identity: Identity | None) -> int:
    """What a view does with an identity: read its claims, each one (``claims["groups"]``)."""
    if identity is None:
        return 0
    claims = identity.claims
    values = [claims[name] for name in claims]
    return len(values)


# -- the decision log -----------------------------------------------------------------


class DecisionLog(logging.Handler):
    """Formats every ``edgeclaims`` record as a shipper would, and keeps what went wrong.

    ``unexpected`` holds every ERROR record: with these deployments (no
    JWKS URL, ``on_error = "deny"``) the only one is the engine's
    "unexpected <Exception> verifying …", an exception inside a source that
    the engine turned into ``malformed`` — not a 500, but a bug (DESIGN.md:
    parse failures become ``VerificationError``). ``failures`` holds
    records the JSON formatter could not write.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.json = JSONFormatter(static_fields={"service": "never-500"})
        self.unexpected: list[str] = []
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            json.loads(self.json.format(record))
        except Exception:
            self.failures.append(traceback.format_exc())
        if record.levelno >= logging.ERROR:
            self.unexpected.append(record.getMessage())

    def take(self) -> tuple[list[str], list[str]]:
        """What went wrong since the last call (and forget it)."""
        found = (self.unexpected, self.failures)
        self.unexpected, self.failures = [], []
        return found


def reproduce_unexpected(engine: Engine, view: RequestView) -> str:
    """The traceback the engine swallowed: the selected source's ``verify``, called directly."""
    for source in engine.sources:
        if view.present(source.trigger_headers):
            try:
                source.verify(view, NOW)
            except Exception:
                lines = traceback.format_exc().splitlines()
                if len(lines) > 40:  # a RecursionError: the way in and the way out
                    lines[20:-20] = [f"  … {len(lines) - 40} lines …"]
                return "\n".join(lines)
            return f"{source.name}.verify did not raise when called again"
    return "no source selected"


# -- the summary ------------------------------------------------------------------------


@dataclass
class Tally:
    """Verdicts per target, printed in a "never a 500" section at the end of the run."""

    name = "never-500-summary"
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    kinds: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, target: str, probe: Probe, outcome: str) -> None:
        self.counts.setdefault(target, Counter())[outcome] += 1
        kinds = self.kinds.setdefault(target, Counter())
        kinds[probe.signed.partition(" ")[0].rstrip(",")] += 1
        for detail in ("(odd)", "odd request", "changed"):
            kinds[detail] += detail in probe.signed

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.counts:
            return
        terminalreporter.section("never a 500")
        for target, counts in self.counts.items():
            total = sum(counts.values())
            kinds = ", ".join(f"{k} {n}" for k, n in self.kinds[target].most_common())
            terminalreporter.write_line(f"{target}: {total} requests ({kinds})")
            verdicts = ", ".join(f"{k} {n}" for k, n in counts.most_common())
            terminalreporter.write_line(f"    {verdicts}")
