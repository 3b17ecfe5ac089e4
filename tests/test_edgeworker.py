"""The Akamai EdgeWorker sample (samples/edgeworker) against the real verifier.

1. The EdgeWorker's own suite, ``node --test test/`` in samples/edgeworker
   (ID token validation, header stripping, route policy, both wire formats).
2. Cross-language: main.js's handlers run under Node with the EdgeWorkers
   shims (``test/edge_cli.mjs``): a test identity provider issues an ID
   token, ``onClientRequest`` validates it and ``onOriginRequest`` signs.
   The headers the origin would receive go through
   :class:`edgeclaims.wsgi.EdgeClaimsMiddleware`, which must accept them —
   and refuse them once tampered with.
3. The route policy: ``Policy.export()`` evaluated by the EdgeWorker's
   policy.js reaches the same decisions as ``Policy.decide()``.

Node is required under CI (the ``CI`` variable set); elsewhere these tests
are skipped when ``node`` is not installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgeclaims.config import load_config
from edgeclaims.testing import build_wsgi_environ
from edgeclaims.wsgi import IDENTITY_KEY, EdgeClaimsMiddleware

# node, not the interpreter: CI runs these under its first Python only (.ci/run).
pytestmark = [pytest.mark.service, pytest.mark.slow]

EDGEWORKER = Path(__file__).resolve().parents[1] / "samples" / "edgeworker"
NOW = 1_795_731_572
HMAC_SECRET = bytes(range(64, 96))
EC_PRIVATE = ec.derive_private_key(0x5EED_0F_ED6E, ec.SECP256R1())
EC_PKCS8_DER = EC_PRIVATE.private_bytes(
    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
EC_PUBLIC_PEM = (
    EC_PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

#: The edge's PMUSER variables for each signing key (the origin holds the other half).
EDGE_KEYS: dict[str, dict[str, str]] = {
    "hmac": {
        "PMUSER_EDGECLAIMS_KEY": "hex:" + HMAC_SECRET.hex(),
        "PMUSER_EDGECLAIMS_KEY_ID": "2026-11",
    },
    "hmac-base64url": {
        "PMUSER_EDGECLAIMS_KEY": "base64url:"
        + base64.urlsafe_b64encode(HMAC_SECRET).rstrip(b"=").decode(),
        "PMUSER_EDGECLAIMS_KEY_ID": "2026-11",
    },
    "ecdsa": {
        "PMUSER_EDGECLAIMS_KEY": "base64:" + base64.b64encode(EC_PKCS8_DER).decode(),
        "PMUSER_EDGECLAIMS_KEY_ID": "ec-2026",
        "PMUSER_EDGECLAIMS_ALG": "ecdsa-p256-sha256",
    },
}
ORIGIN_KEYS = [
    {"id": "2026-11", "alg": "hmac-sha256", "secret": "hex:" + HMAC_SECRET.hex()},
    {"id": "ec-2026", "alg": "ecdsa-p256-sha256", "public_key": EC_PUBLIC_PEM},
]


def origin_config(path_form: str = "exact", **overrides: object) -> dict[str, object]:
    """The origin's configuration: one rfc9421 source, a memory replay store, one role."""
    mapping: dict[str, object] = {
        "sources": [{"type": "rfc9421", "path_form": path_form, "keys": ORIGIN_KEYS}],
        "replay": {"store": "memory"},
        "roles": {"admin": ["groups=okta-admins"]},
    }
    mapping.update(overrides)
    return mapping


# -- running the EdgeWorker under Node ----------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    """The ``node`` executable; skipped without it, except under CI where that fails."""
    executable = shutil.which("node")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("node is not installed, and CI must run the EdgeWorker tests")
        pytest.skip("node is not installed: the EdgeWorker sample needs Node.js >= 18.19")
    return executable


def run_edge(node: str, specs: list[dict[str, Any]]) -> list[Any]:
    """Run specs through test/edge_cli.mjs (one Node process for all of them)."""
    result = subprocess.run(
        [node, "test/edge_cli.mjs", "-"],
        cwd=EDGEWORKER,
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output: list[Any] = json.loads(result.stdout)
    return output


def test_node_suite_passes(node: str) -> None:
    """``node --test test/`` in samples/edgeworker: the command CI runs."""
    result = subprocess.run(
        [node, "--test", "test/"],
        cwd=EDGEWORKER,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "# fail 0" in result.stdout, report
    passed = next(line for line in result.stdout.splitlines() if line.startswith("# pass "))
    assert int(passed.split()[-1]) >= 100, report


# -- the signing table ----------------------------------------------------------------


@dataclass(frozen=True)
class EdgeCase:
    """One request through the EdgeWorker, and how the origin is set up to check it."""

    id: str
    path: str
    query: str = ""
    method: str = "GET"
    host: str = "app.example.com"
    claims: dict[str, object] = field(default_factory=lambda: {"email": "alice@example.com"})
    key: str = "hmac"
    path_form: str = "exact"
    #: "raw": the origin has the raw request URI (wfastcgi UNENCODED_URL, REQUEST_URI);
    #: "decoded": only the decoded PATH_INFO (HttpPlatformHandler).
    origin: str = "raw"
    format: str = "rfc9421"

    @property
    def url(self) -> str:
        return f"https://{self.host}{self.path}" + (f"?{self.query}" if self.query else "")

    def spec(self) -> dict[str, Any]:
        variables = dict(EDGE_KEYS[self.key])
        if self.path_form != "exact":
            variables["PMUSER_EDGECLAIMS_PATH_FORM"] = self.path_form
        if self.format != "rfc9421":
            variables["PMUSER_EDGECLAIMS_FORMAT"] = self.format
        return {
            "command": "sign",
            "now": NOW,
            "request": {
                "method": self.method,
                "scheme": "https",
                "host": self.host,
                "path": self.path,
                "query": self.query,
            },
            "variables": variables,
            "claims": self.claims,
            "settings": {"jws": {"issuer": "https://edge.example.com", "audience": "orders-app"}},
        }


ACCEPTED = [
    EdgeCase("simple-path", "/whoami"),
    EdgeCase("percent-encoded-exact", "/files/a%2Fb%20c%7E.txt"),
    EdgeCase("percent-encoded-lower-hex-exact", "/files/a%2fb%20c"),
    EdgeCase(
        "percent-encoded-normalized-raw-origin", "/files/a%2fb%20c%7e%3b", path_form="normalized"
    ),
    EdgeCase(
        "percent-encoded-normalized-decoded-origin",
        "/files/a%2fb%20caf%C3%A9%7e",
        path_form="normalized",
        origin="decoded",
    ),
    EdgeCase("query-string", "/search", query="q=caf%C3%A9&tag=a&tag=b&empty="),
    EdgeCase(
        "query-with-encoded-path-normalized",
        "/r%C3%A9sum%C3%A9",
        query="x=%2F",
        path_form="normalized",
    ),
    EdgeCase(
        "multi-valued-groups",
        "/admin/users",
        claims={"groups": ["staff", "okta-admins", "g:with,comma"], "name": "Zoë"},
    ),
    EdgeCase("post-with-port", "/orders/42", method="POST", host="App.Example.com:8443"),
    EdgeCase("ecdsa-p256-sha256", "/whoami", key="ecdsa"),
    EdgeCase(
        "ecdsa-percent-normalized",
        "/files/a%2Fb",
        key="ecdsa",
        path_form="normalized",
        origin="decoded",
    ),
    EdgeCase("hmac-key-base64url", "/whoami", key="hmac-base64url"),
]
# The exact form cannot survive an origin that only sees the decoded path:
# that is what path_form = "normalized" is for.
EXACT_ON_DECODED_ORIGIN = EdgeCase("exact-on-decoded-origin", "/files/a%2Fb%20c", origin="decoded")
JWS_CASES = [
    EdgeCase("jws-hs256", "/orders/7", format="jws", claims={"groups": ["staff", "okta-admins"]}),
    EdgeCase("jws-es256", "/orders/7", format="jws", key="ecdsa", method="DELETE"),
    EdgeCase("jws-percent-encoded-path", "/orders/a%2fb%7e", query="x=1", format="jws"),
]
ALL_CASES = [*ACCEPTED, EXACT_ON_DECODED_ORIGIN, *JWS_CASES]


@pytest.fixture(scope="module")
def edge_output(node: str) -> dict[str, dict[str, Any]]:
    """What the EdgeWorker gives the origin for every case (one Node run)."""
    outputs = run_edge(node, [case.spec() for case in ALL_CASES])
    return {case.id: output for case, output in zip(ALL_CASES, outputs, strict=True)}


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    """The origin app: the verified identity as JSON."""
    identity = environ[IDENTITY_KEY]
    body = {
        "sub": identity.subject,
        "roles": sorted(identity.roles),
        "claims": dict(identity.claims),
        "key_id": identity.key_id,
        "source": identity.source,
        "leaked": sorted(k for k in environ if "EDGE" in k or "SIGNATURE" in k),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    yield json.dumps(body).encode()


def call(
    app: EdgeClaimsMiddleware, case: EdgeCase, headers: dict[str, str], **changes: str
) -> tuple[int, dict[str, Any]]:
    """One request to the origin middleware; ``changes`` override method/url."""
    method = changes.get("method", case.method)
    url = changes.get("url", case.url)
    environ = build_wsgi_environ(method, url, headers)
    if case.origin == "decoded":
        # HttpPlatformHandler: http.sys decoded the path, no raw URI reaches Python.
        del environ["REQUEST_URI"]
    seen: list[str] = []
    body = b"".join(app(environ, lambda status, _headers: seen.append(status)))
    return int(seen[0].split()[0]), json.loads(body)


def origin(
    case: EdgeCase, *, clock: float = NOW, mapping: dict[str, object] | None = None
) -> EdgeClaimsMiddleware:
    """The origin app behind the middleware, configured for the case's path form."""
    config = mapping if mapping is not None else origin_config(case.path_form)
    return EdgeClaimsMiddleware(echo_app, config, clock=lambda: clock)


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.id)
def test_edge_signature_verifies_in_python(
    case: EdgeCase, edge_output: dict[str, dict[str, Any]]
) -> None:
    produced = edge_output[case.id]
    assert produced["response"] is None
    headers = produced["headers"]
    assert sorted(headers) == ["Signature", "Signature-Input", "X-Edge-Claims"]

    status, body = call(origin(case), case, headers)

    assert status == 200, body
    assert body["sub"] == "alice"
    assert body["source"] == "rfc9421"
    assert body["key_id"] == EDGE_KEYS[case.key]["PMUSER_EDGECLAIMS_KEY_ID"]
    assert body["leaked"] == []  # the raw identity headers never reach the app
    for name, value in case.claims.items():
        assert body["claims"][name] == value


def test_multi_valued_groups_grant_the_role(edge_output: dict[str, dict[str, Any]]) -> None:
    case = next(c for c in ACCEPTED if c.id == "multi-valued-groups")
    status, body = call(origin(case), case, edge_output[case.id]["headers"])
    assert status == 200
    assert body["claims"]["groups"] == ["staff", "okta-admins", "g:with,comma"]
    assert body["roles"] == ["admin"]


def test_exact_path_form_fails_where_the_origin_sees_only_a_decoded_path(
    edge_output: dict[str, dict[str, Any]],
) -> None:
    case = EXACT_ON_DECODED_ORIGIN
    status, body = call(origin(case), case, edge_output[case.id]["headers"])
    assert (status, body["code"]) == (401, "bad_signature")


# -- tampering: the same headers, one thing changed ---------------------------------------

BASE_CASE = ACCEPTED[0]
QUERY_CASE = next(c for c in ACCEPTED if c.id == "query-string")
ENCODED_CASE = next(c for c in ACCEPTED if c.id == "percent-encoded-exact")


def _unchanged(headers: dict[str, str]) -> dict[str, str]:
    return headers


def _more_groups(headers: dict[str, str]) -> dict[str, str]:
    claims = json.loads(base64.urlsafe_b64decode(headers["X-Edge-Claims"] + "=="))
    claims["groups"] = ["okta-admins"]
    forged = json.dumps(claims, separators=(",", ":")).encode()
    return {**headers, "X-Edge-Claims": base64.urlsafe_b64encode(forged).rstrip(b"=").decode()}


def _flipped_signature_bit(headers: dict[str, str]) -> dict[str, str]:
    signature = bytearray(base64.b64decode(headers["Signature"].removeprefix("edge=:")[:-1]))
    signature[0] ^= 1
    return {**headers, "Signature": f"edge=:{base64.b64encode(signature).decode()}:"}


def _other_keyid(headers: dict[str, str]) -> dict[str, str]:
    swapped = headers["Signature-Input"].replace('keyid="2026-11"', 'keyid="ec-2026"')
    return {**headers, "Signature-Input": swapped}


def _no_signature(headers: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "Signature"}


ORIGIN_URL = "https://app.example.com"
TAMPERED = [
    pytest.param(BASE_CASE, _more_groups, {}, "bad_signature", id="claims-changed"),
    pytest.param(BASE_CASE, _flipped_signature_bit, {}, "bad_signature", id="signature-bit"),
    pytest.param(BASE_CASE, _other_keyid, {}, "algorithm_not_allowed", id="keyid-swapped"),
    pytest.param(BASE_CASE, _no_signature, {}, "missing", id="signature-removed"),
    pytest.param(BASE_CASE, _unchanged, {"method": "DELETE"}, "bad_signature", id="method"),
    pytest.param(BASE_CASE, _unchanged, {"url": f"{ORIGIN_URL}/admin"}, "bad_signature", id="path"),
    pytest.param(
        BASE_CASE,
        _unchanged,
        {"url": "https://evil.example.com/whoami"},
        "bad_signature",
        id="host",
    ),
    pytest.param(
        ENCODED_CASE,
        _unchanged,
        {"url": f"{ORIGIN_URL}/files/a/b%20c~.txt"},
        "bad_signature",
        id="encoded-path-decoded",
    ),
    pytest.param(
        QUERY_CASE,
        _unchanged,
        {"url": f"{ORIGIN_URL}/search?q=caf%C3%A9&tag=a"},
        "bad_signature",
        id="query",
    ),
]


@pytest.mark.parametrize(("case", "tamper", "changes", "code"), TAMPERED)
def test_tampered_edge_headers_are_refused(
    case: EdgeCase,
    tamper: Callable[[dict[str, str]], dict[str, str]],
    changes: dict[str, str],
    code: str,
    edge_output: dict[str, dict[str, Any]],
) -> None:
    headers = tamper(dict(edge_output[case.id]["headers"]))
    status, body = call(origin(case), case, headers, **changes)
    assert (status, body["code"]) == (401, code)


def test_edge_signature_is_single_use(edge_output: dict[str, dict[str, Any]]) -> None:
    app = origin(BASE_CASE)
    headers = edge_output[BASE_CASE.id]["headers"]
    assert call(app, BASE_CASE, headers)[0] == 200
    status, body = call(app, BASE_CASE, headers)
    assert (status, body["code"]) == (401, "replayed")


@pytest.mark.parametrize(
    ("offset", "code"), [(36, "expired"), (-6, "not_yet_valid")], ids=["stale", "from-the-future"]
)
def test_edge_signature_time_window(
    offset: int, code: str, edge_output: dict[str, dict[str, Any]]
) -> None:
    status, body = call(
        origin(BASE_CASE, clock=NOW + offset), BASE_CASE, edge_output[BASE_CASE.id]["headers"]
    )
    assert (status, body["code"]) == (401, code)


def test_edge_key_unknown_to_the_origin_is_refused(edge_output: dict[str, dict[str, Any]]) -> None:
    mapping = origin_config()
    mapping["sources"] = [{"type": "rfc9421", "keys": [ORIGIN_KEYS[1]]}]
    status, body = call(
        origin(BASE_CASE, mapping=mapping), BASE_CASE, edge_output[BASE_CASE.id]["headers"]
    )
    assert (status, body["code"]) == (401, "unknown_key")


# -- the JWS form ----------------------------------------------------------------------------


def jws_origin_config() -> dict[str, object]:
    return {
        "sources": [
            {
                "type": "jws",
                "issuer": "https://edge.example.com",
                "audience": "orders-app",
                "bind_request": True,
                "replay_jti": True,
                "keys": [
                    {"id": "2026-11", "alg": "HS256", "secret": "hex:" + HMAC_SECRET.hex()},
                    {"id": "ec-2026", "alg": "ES256", "public_key": EC_PUBLIC_PEM},
                ],
            }
        ],
        "replay": {"store": "memory"},
        "roles": {"admin": ["groups=okta-admins"]},
    }


@pytest.mark.parametrize("case", JWS_CASES, ids=lambda c: c.id)
def test_edge_jws_verifies_in_python(
    case: EdgeCase, edge_output: dict[str, dict[str, Any]]
) -> None:
    headers = edge_output[case.id]["headers"]
    assert sorted(headers) == ["X-Edge-Jwt"]

    app = EdgeClaimsMiddleware(echo_app, jws_origin_config(), clock=lambda: NOW)
    status, body = call(app, case, headers)
    assert status == 200, body
    assert body["sub"] == "alice"
    assert body["source"] == "jws"
    assert body["leaked"] == []

    # An independent JOSE library agrees (its own clock is off: ours is fixed).
    hmac = case.key == "hmac"
    payload = jwt.decode(
        headers["X-Edge-Jwt"],
        HMAC_SECRET if hmac else EC_PRIVATE.public_key(),
        algorithms=["HS256" if hmac else "ES256"],
        audience="orders-app",
        issuer="https://edge.example.com",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert payload["exp"] == NOW + 30
    assert payload["htm"] == case.method
    assert payload["htu"] == f"https://app.example.com{case.path}"  # no query (RFC 9449)

    # Single use (jti), and bound to its request: another method or path is refused.
    assert call(app, case, headers)[1]["code"] == "replayed"
    for change in ({"method": "PATCH"}, {"url": "https://app.example.com/orders/8"}):
        other = EdgeClaimsMiddleware(echo_app, jws_origin_config(), clock=lambda: NOW)
        status, body = call(other, case, headers, **change)
        assert (status, body["code"]) == (401, "binding_mismatch")


# -- the route policy: the same decisions on both sides ------------------------------------

POLICY_CONFIG: dict[str, object] = {
    "public_paths": ["/healthz", "/static/*"],
    "roles": {
        "admin": ["groups=okta-admins", "roles=Admin"],
        "editor": {"any": ["groups=editors", "realm_access.roles=edit*"], "includes": ["viewer"]},
        "viewer": {"all": ["email=*@example.com", "email_verified=true"]},
        "auditor": [{"claim": ["https://example.com/claims", "roles"], "equals": "audit"}],
        "level2": [{"claim": "level", "equals": 2}],
        "literal": [{"claim": "tag", "equals": "a*b?"}],
        "acme": ["orgs.name=acme", "orgs.name=ac?e-*"],
        "gold": [{"any": [{"all": ["dept=eng", "site=par*"]}, "tier=gold"]}],
        "big": [{"claim": "id", "equals": 1152921504606846976}],
        "member": ["authenticated"],
        "nobody": [],
    },
    "permissions": {
        "admin": ["users:manage", "orders:write"],
        "viewer": ["orders:read"],
        "editor": ["orders:write"],
    },
    "routes": {
        "POST /orders/*": ["orders:write"],
        "GET,HEAD /orders/*": ["orders:read"],
        "/admin/*": ["admin"],
        "/audit": ["auditor", "level2"],
        "/gold/*": ["gold", "acme", "big", "literal"],
        "/api/*": "authenticated",
        "/healthz": "public",
    },
}

POLICY_CLAIMS: list[dict[str, object] | None] = [
    None,
    {"sub": "a"},
    {"sub": "a", "groups": ["staff", "okta-admins"]},
    {"sub": "a", "groups": "okta-admins"},
    {"sub": "a", "roles": ["Admin"], "email": "a@example.com", "email_verified": True},
    {"sub": "a", "email": "a@example.com", "email_verified": "true"},
    {"sub": "a", "email": "a@example.org", "email_verified": True},
    {
        "sub": "a",
        "realm_access": {"roles": ["editor-x", "viewer"]},
        "email": "e@example.com",
        "email_verified": True,
    },
    {"sub": "a", "groups": ["editors"]},
    {"sub": "a", "https://example.com/claims": {"roles": ["audit"]}},
    {"sub": "a", "level": 2.0},
    {"sub": "a", "level": "2"},
    {"sub": "a", "level": [1, 2]},
    {"sub": "a", "tag": "a*b?"},
    {"sub": "a", "tag": "axxb!"},
    {"sub": "a", "orgs": [{"name": "acme"}, {"name": "other"}]},
    {"sub": "a", "orgs": [{"name": "acne-1"}]},
    {"sub": "a", "orgs": {"name": ["x", "acme"]}},
    {"sub": "a", "dept": "eng", "site": "paris"},
    {"sub": "a", "dept": "eng", "site": "lyon"},
    {"sub": "a", "tier": "gold"},
    {"sub": "a", "id": 1152921504606846976},
    {"sub": "a", "groups": None, "roles": {"Admin": True}, "email": ["a@example.com"]},
]
POLICY_REQUESTS = [
    ("GET", "/healthz"),
    ("GET", "/static/app.js"),
    ("GET", "/static"),
    ("GET", "/whoami"),
    ("GET", "/orders/7"),
    ("HEAD", "/orders/7"),
    ("POST", "/orders/7"),
    ("DELETE", "/orders/7"),
    ("GET", "/admin"),
    ("GET", "/admin/users"),
    ("GET", "/administrator"),
    ("GET", "/healthz/../admin/users"),
    ("GET", "/static/../audit"),
    ("GET", "/audit"),
    ("GET", "/gold/x"),
    ("get", "/orders/7"),
    ("GET", "/api/v1/caf\u00e9"),
    ("GET", "//admin"),
    ("GET", "/admin/./users"),
    ("GET", "/admin\\..\\healthz"),
    ("GET", "/admin/\ufffd"),
]


@pytest.mark.parametrize(
    "default_route",
    ["authenticated", "public", ["admin"]],
    ids=["authenticated", "public", "admin"],
)
def test_edge_policy_decides_like_the_origin(node: str, default_route: object) -> None:
    config = load_config(
        {
            "sources": [{"type": "rfc9421", "keys": [ORIGIN_KEYS[0]]}],
            "default_route": default_route,
            **POLICY_CONFIG,
        }
    )
    policy = config.policy
    cases = [
        {"claims": claims, "method": method, "path": path}
        for claims in POLICY_CLAIMS
        for method, path in POLICY_REQUESTS
    ]
    (edge,) = run_edge(node, [{"command": "decide", "policy": policy.export(), "cases": cases}])
    mismatches = []
    for case, decided in zip(cases, edge, strict=True):
        expected = policy.decide(case["claims"], case["method"], case["path"])
        python = {
            "outcome": expected.outcome,
            "roles": sorted(expected.roles),
            "permissions": sorted(expected.permissions),
            "route": expected.route,
        }
        if python != decided:
            mismatches.append((case, python, decided))
    assert mismatches == []
    outcomes = {d["outcome"] for d in edge}
    assert outcomes == {"allow", "unauthenticated", "forbidden", "ambiguous_request"}
