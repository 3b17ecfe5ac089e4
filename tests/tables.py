"""The shared table of valid and tampered requests (STYLE.md: one table, every entry point).

Each case is a request as it reaches the origin: method, URL and header
lines (a list of pairs, so a header can repeat). ``expect`` is the stable
code of the refusal, or ``"ok"`` / ``"anonymous"`` when the request goes on.
The same table runs through the engine, the WSGI middleware and the ASGI
middleware (tests/test_entry_points.py), and the framework integrations
reuse it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgeclaims.signer import SigningKey, encode_claims, sign_request

NOW = 1_795_731_572
HMAC_SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))
EC_PRIVATE = ec.derive_private_key(0xC0FFEE_5EED, ec.SECP256R1())
EC_PUBLIC_PEM = (
    EC_PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
ORIGIN = "https://app.example.com"

HMAC_KEY = SigningKey("2026-11", "hmac-sha256", HMAC_SECRET)
EC_KEY = SigningKey("ec-2026", "ecdsa-p256-sha256", EC_PRIVATE)

VIEWER = {"sub": "alice", "email": "alice@example.com", "groups": ["staff"]}
ADMIN = {"sub": "root", "groups": ["okta-admins", "staff"]}


def config_mapping(**overrides: object) -> dict[str, object]:
    """The configuration every entry point uses in the table tests."""
    mapping: dict[str, object] = {
        "public_paths": ["/healthz"],
        "sources": [
            {
                "type": "rfc9421",
                "keys": [
                    {"id": "2026-11", "alg": "hmac-sha256", "secret": "hex:" + HMAC_SECRET.hex()},
                    {"id": "ec-2026", "alg": "ecdsa-p256-sha256", "public_key": EC_PUBLIC_PEM},
                ],
            }
        ],
        "replay": {"store": "memory"},
        "roles": {"admin": ["groups=okta-admins"], "staff": ["groups=staff"]},
        "routes": {"/admin/*": ["admin"], "GET /reports/*": ["admin"], "/healthz": "public"},
    }
    mapping.update(overrides)
    return mapping


Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Case:
    """One row; ``not_for`` names the entry points that cannot express it, with the reason.

    Keys: ``wsgi`` (an environ), ``httpx`` (a client that normalizes the
    path and method), ``http`` (a real server in front), ``no-body`` (a
    client that drops a HEAD response's body).
    """

    id: str
    method: str
    url: str
    headers: Headers
    expect: str
    #: Entry points where the case cannot be expressed (with the reason).
    not_for: dict[str, str] = field(default_factory=dict)

    def skip_for(self, *entries: str) -> None:
        """Skip the test, with the reason, when the row cannot go through these entries."""
        for entry in entries:
            if entry in self.not_for:
                pytest.skip(self.not_for[entry])


def signed(
    method: str = "GET",
    path: str = "/whoami",
    claims: dict[str, object] | None = None,
    *,
    key: SigningKey = HMAC_KEY,
    **options: object,
) -> Headers:
    headers = sign_request(
        method,
        ORIGIN + path,
        VIEWER if claims is None else claims,
        key,
        created=int(options.pop("created", NOW)),  # type: ignore[call-overload]
        nonce=str(options.pop("nonce", "n-" + method + path)),
        **options,  # type: ignore[arg-type]
    )
    return list(headers.items())


def replace(headers: Headers, name: str, value: str) -> Headers:
    return [(n, value if n.lower() == name.lower() else v) for n, v in headers]


def drop(headers: Headers, name: str) -> Headers:
    return [(n, v) for n, v in headers if n.lower() != name.lower()]


def _sig(headers: Headers) -> str:
    return dict(headers)["Signature"]


def _mangle_signature(headers: Headers, change: Callable[[bytes], bytes]) -> Headers:
    raw = base64.b64decode(_sig(headers).split(":")[1])
    return replace(headers, "Signature", f"edge=:{base64.b64encode(change(raw)).decode()}:")


def _claims_value(claims: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def _two_tagged() -> Headers:
    first = dict(signed())
    second = dict(signed(nonce="other"))
    input_2 = second["Signature-Input"].replace("edge=", "edge2=", 1)
    sig_2 = second["Signature"].replace("edge=", "edge2=", 1)
    return [
        ("X-Edge-Claims", first["X-Edge-Claims"]),
        ("Signature-Input", f"{first['Signature-Input']}, {input_2}"),
        ("Signature", f"{first['Signature']}, {sig_2}"),
    ]


def _signed_raw_claims(raw_value: str) -> Headers:
    """A correct signature over a claims header whose *content* is bad."""
    added = sign_request(
        "GET",
        ORIGIN + "/whoami",
        None,
        HMAC_KEY,
        headers={"X-Edge-Claims": raw_value},
        created=NOW,
        nonce="raw",
    )
    return [("X-Edge-Claims", raw_value), *added.items()]


def cases() -> list[Case]:
    ok = signed()
    asgi_only = {"wsgi": "a WSGI environ cannot hold two spellings or two lines of a header"}
    normalizing = {"httpx": "httpx removes dot segments and upper-cases the method"}
    lower_case = {
        **normalizing,
        "http": "waitress and uvicorn answer a lower-case method with their own 400",
    }
    no_body = {"no-body": "a HEAD response has no body to read the code from"}
    return [
        Case("valid-hmac", "GET", ORIGIN + "/whoami", ok, "ok"),
        Case("valid-ecdsa", "GET", ORIGIN + "/whoami", signed(key=EC_KEY), "ok"),
        Case(
            "valid-query",
            "GET",
            ORIGIN + "/whoami?a=1&b=%20x",
            signed(path="/whoami?a=1&b=%20x"),
            "ok",
        ),
        Case(
            "valid-percent-encoded-path",
            "GET",
            ORIGIN + "/files/a%2Fb%20c",
            signed(path="/files/a%2Fb%20c"),
            "ok",
        ),
        Case(
            "valid-admin",
            "GET",
            ORIGIN + "/admin/users",
            signed(path="/admin/users", claims=ADMIN),
            "ok",
        ),
        Case("public-anonymous", "GET", ORIGIN + "/healthz", [], "anonymous"),
        Case("missing-identity", "GET", ORIGIN + "/whoami", [], "missing"),
        Case("empty-claims-header", "GET", ORIGIN + "/whoami", [("X-Edge-Claims", "")], "missing"),
        Case("method-changed", "POST", ORIGIN + "/whoami", ok, "bad_signature"),
        Case("authority-changed", "GET", "https://evil.example.com/whoami", ok, "bad_signature"),
        Case("path-changed", "GET", ORIGIN + "/whoami2", ok, "bad_signature"),
        Case(
            "path-encoding-changed",
            "GET",
            ORIGIN + "/files/a%2fb%20c",
            signed(path="/files/a%2Fb%20c"),
            "bad_signature",
        ),
        Case("query-added", "GET", ORIGIN + "/whoami?admin=1", ok, "bad_signature"),
        Case(
            "claims-changed",
            "GET",
            ORIGIN + "/whoami",
            replace(ok, "X-Edge-Claims", encode_claims(ADMIN)),
            "bad_signature",
        ),
        Case(
            "signature-truncated",
            "GET",
            ORIGIN + "/whoami",
            _mangle_signature(ok, lambda raw: raw[:16]),
            "bad_signature",
        ),
        Case(
            "signature-empty",
            "GET",
            ORIGIN + "/whoami",
            replace(ok, "Signature", "edge=::"),
            "bad_signature",
        ),
        Case(
            "signature-bit-flipped",
            "GET",
            ORIGIN + "/whoami",
            _mangle_signature(ok, lambda raw: bytes([raw[0] ^ 1]) + raw[1:]),
            "bad_signature",
        ),
        Case(
            "wrong-key",
            "GET",
            ORIGIN + "/whoami",
            signed(key=SigningKey("2026-11", "hmac-sha256", OTHER_SECRET)),
            "bad_signature",
        ),
        Case(
            "unknown-key",
            "GET",
            ORIGIN + "/whoami",
            signed(key=SigningKey("2025-01", "hmac-sha256", HMAC_SECRET)),
            "unknown_key",
        ),
        Case(
            "alg-mismatch",
            "GET",
            ORIGIN + "/whoami",
            replace(
                ok,
                "Signature-Input",
                dict(ok)["Signature-Input"].replace('alg="hmac-sha256"', 'alg="ed25519"'),
            ),
            "algorithm_not_allowed",
        ),
        Case(
            "missing-required-component",
            "GET",
            ORIGIN + "/whoami",
            signed(components=["@method", "@authority", "@path", "x-edge-claims"]),
            "insufficient_coverage",
        ),
        Case(
            "unsupported-component-param",
            "GET",
            ORIGIN + "/whoami",
            replace(
                ok,
                "Signature-Input",
                dict(ok)["Signature-Input"].replace('"x-edge-claims"', '"x-edge-claims";sf'),
            ),
            "unsupported",
        ),
        Case(
            "created-in-future",
            "GET",
            ORIGIN + "/whoami",
            signed(created=NOW + 60),
            "not_yet_valid",
        ),
        Case("expired", "GET", ORIGIN + "/whoami", signed(created=NOW - 60), "expired"),
        Case(
            "expires-passed",
            "GET",
            ORIGIN + "/whoami",
            signed(created=NOW - 20, expires=NOW - 10),
            "expired",
        ),
        Case(
            "claims-exp-passed",
            "GET",
            ORIGIN + "/whoami",
            signed(claims={**VIEWER, "exp": NOW - 60}),
            "expired",
        ),
        Case(
            "duplicate-claims-header",
            "GET",
            ORIGIN + "/whoami",
            [*ok, ("X-Edge-Claims", dict(ok)["X-Edge-Claims"])],
            "ambiguous",
        ),
        Case(
            "duplicate-signature-header",
            "GET",
            ORIGIN + "/whoami",
            [*ok, ("Signature", dict(ok)["Signature"])],
            "ambiguous",
        ),
        Case(
            "underscore-claims-header",
            "GET",
            ORIGIN + "/whoami",
            [*ok, ("X_Edge_Claims", encode_claims(ADMIN))],
            "ambiguous",
            asgi_only,
        ),
        Case(
            "underscore-only-claims-header",
            "GET",
            ORIGIN + "/whoami",
            [("X_Edge_Claims" if n == "X-Edge-Claims" else n, v) for n, v in ok],
            "ambiguous",
            asgi_only,
        ),
        Case("two-tagged-signatures", "GET", ORIGIN + "/whoami", _two_tagged(), "ambiguous"),
        Case(
            "oversized-claims",
            "GET",
            ORIGIN + "/whoami",
            signed(claims={**VIEWER, "groups": ["g" * 40] * 300}),
            "too_large",
        ),
        Case(
            "non-json-claims",
            "GET",
            ORIGIN + "/whoami",
            _signed_raw_claims(base64.urlsafe_b64encode(b"not json").rstrip(b"=").decode()),
            "malformed",
        ),
        Case(
            "json-array-claims",
            "GET",
            ORIGIN + "/whoami",
            _signed_raw_claims(_claims_value(["alice"])),
            "malformed",
        ),
        Case(
            "duplicate-json-key",
            "GET",
            ORIGIN + "/whoami",
            _signed_raw_claims(
                base64.urlsafe_b64encode(b'{"sub":"alice","sub":"root"}').rstrip(b"=").decode()
            ),
            "malformed",
        ),
        Case(
            "padded-base64url-claims",
            "GET",
            ORIGIN + "/whoami",
            _signed_raw_claims(base64.urlsafe_b64encode(b'{"sub":"bob"}').decode()),
            "malformed",
        ),
        Case(
            "signature-input-garbage",
            "GET",
            ORIGIN + "/whoami",
            replace(ok, "Signature-Input", 'edge=("@method"'),
            "malformed",
        ),
        Case("signature-missing", "GET", ORIGIN + "/whoami", drop(ok, "Signature"), "missing"),
        Case("other-tag-only", "GET", ORIGIN + "/whoami", signed(tag="someone-else"), "missing"),
        Case(
            "forbidden-admin",
            "GET",
            ORIGIN + "/admin/users",
            signed(path="/admin/users"),
            "forbidden",
        ),
        # Requests with no single reading (docs/roles.md): refused whatever they carry.
        Case(
            "dot-segment-into-public",
            "GET",
            ORIGIN + "/admin/../healthz",
            signed(path="/admin/../healthz"),
            "ambiguous_request",
            normalizing,
        ),
        Case(
            "dot-segment-anonymous",
            "GET",
            ORIGIN + "/admin/../healthz",
            [],
            "ambiguous_request",
            normalizing,
        ),
        Case(
            "encoded-dot-segment",
            "GET",
            ORIGIN + "/healthz/%2e%2e/admin/users",
            signed(path="/healthz/%2e%2e/admin/users", claims=ADMIN),
            "ambiguous_request",
            normalizing,
        ),
        Case(
            "encoded-slash-dot-segment",
            "GET",
            ORIGIN + "/admin/..%2fhealthz",
            [],
            "ambiguous_request",
        ),
        Case(
            "empty-segment",
            "GET",
            ORIGIN + "/admin//users",
            signed(path="/admin//users"),
            "ambiguous_request",
        ),
        Case(
            "lower-case-method",
            "post",
            ORIGIN + "/whoami",
            signed("POST"),
            "ambiguous_request",
            lower_case,
        ),
        Case(
            "head-under-a-get-rule",
            "HEAD",
            ORIGIN + "/reports/q3",
            signed("HEAD", path="/reports/q3"),
            "forbidden",
            no_body,
        ),
        Case(
            "two-host-lines",
            "GET",
            ORIGIN + "/whoami",
            [("Host", "app.example.com"), ("Host", "evil.example"), *ok],
            "ambiguous",
            asgi_only,
        ),
        # A signature over claims that name no one is not an identity.
        Case(
            "signed-empty-claims", "GET", ORIGIN + "/whoami", signed(claims={}), "incomplete_claims"
        ),
        Case(
            "subject-not-a-string",
            "GET",
            ORIGIN + "/whoami",
            signed(claims={"sub": 5}),
            "incomplete_claims",
        ),
        Case(
            "subject-blank",
            "GET",
            ORIGIN + "/whoami",
            signed(claims={"sub": "  "}),
            "incomplete_claims",
        ),
        Case(
            "invalid-on-public-route",
            "GET",
            ORIGIN + "/healthz",
            replace(signed(path="/healthz"), "X-Edge-Claims", encode_claims(ADMIN)),
            "bad_signature",
        ),
    ]
