"""The ``gcp-iap``, ``cloudflare-access`` and ``pomerium`` sources (spec/providers.md).

Tokens are minted here with PyJWT (an implementation independent of ours),
shaped as each provider's are: header fields, claims, IAP's two audience
shapes, Cloudflare's ``aud`` list and service tokens, Pomerium's iss/aud.
Keys are served by a real HTTP server on 127.0.0.1 in each provider's
format (Google's JWK Set, Cloudflare's certs document with ``public_cert``
and ``public_certs`` beside ``keys``, Pomerium's JWK Set). One table of
tokens per provider runs through the source, the WSGI middleware, the ASGI
middleware and Flask, and must give the same verdicts everywhere; the
unsigned convenience headers are shown to be gone under Django too.
The reference vectors from independent implementations (providers.json)
hold none for these providers — only G2O, oauth2-proxy and ALB, whose tests
belong to those sources — so nothing is copied from them here.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import io
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from tables import config_mapping
from test_jws import EC_OTHER, EC_PRIVATE, ED_PRIVATE, NOW, RSA_PRIVATE, pem

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError, VerificationError
from edgeclaims.handoff import IdentityHeaders
from edgeclaims.request import RequestView
from edgeclaims.sources import Source, parse_source_config
from edgeclaims.testing import ProviderTokens, build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

URL = "https://app.example.com/api/orders"

IAP_AUDIENCE = "/projects/123456789012/global/backendServices/4567890123456789"
IAP_APP_AUDIENCE = "/projects/123456789012/apps/orders-prod-2026"
IAP_KID = "0oeLcQ"
IAP_PATH = "/iap/verify/public_key-jwk"

CF_TEAM = "myteam.cloudflareaccess.com"
CF_AUDIENCE = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2"
CF_OTHER_AUDIENCE = "9b1c2d1e8f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"
CF_KID = "1f0ca4b9b9bd7bc7e9e5f2b4a0f0c3f0b2bb2b9e6c1c5d5f0a1e0f5c6c2a9d1e"
CF_PATH = "/cdn-cgi/access/certs"

POM_ROUTE = "orders.corp.example.com"
POM_AUTHENTICATE = "authenticate.corp.example.com"
POM_KID = "ccc5bc9d835ff3c8f7075ed4a7510159cf440fd7bf7b517b5caeb1fa419ee6a1"
POM_PATH = "/.well-known/pomerium/jwks.json"

# A second RSA key, for a foreign signer and for the public_cert decoy.
RSA_OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(private: Any, kid: str, alg: str) -> dict[str, Any]:
    to_jwk = {"ES256": ECAlgorithm, "RS256": RSAAlgorithm, "EdDSA": OKPAlgorithm}[alg]
    jwk = json.loads(to_jwk.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return dict(jwk)


def _certificate(private: Any, name: str) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(private, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


#: The kid of Cloudflare's public_cert: a key that is *not* in `keys`.
CF_CERT_KID = "d5d0f6fa1bd6f7a4c1c0b3a2e7e8f9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6"


def provider_documents() -> dict[str, object]:
    """What each provider serves, by path."""
    cert = {"kid": CF_CERT_KID, "cert": _certificate(RSA_OTHER, CF_TEAM)}
    return {
        # Google serves several ES256 keys at once.
        IAP_PATH: {
            "keys": [
                _jwk(EC_PRIVATE, IAP_KID, "ES256"),
                _jwk(ec.derive_private_key(0x1A9, ec.SECP256R1()), "f9R3yg", "ES256"),
            ]
        },
        CF_PATH: {
            "keys": [_jwk(RSA_PRIVATE, CF_KID, "RS256")],
            "public_cert": cert,
            "public_certs": [cert],
        },
        POM_PATH: {"keys": [_jwk(EC_PRIVATE, POM_KID, "ES256"), _jwk(ED_PRIVATE, "ed-1", "EdDSA")]},
    }


class KeyServer:
    """A real HTTP server on 127.0.0.1 answering each path with its document; counts requests."""

    def __init__(self, documents: dict[str, object]) -> None:
        self.documents = documents
        self.requests: dict[str, int] = {}
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    server.requests[self.path] = server.requests.get(self.path, 0) + 1
                document = server.documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", "public, max-age=3600")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def key_server() -> Iterator[KeyServer]:
    server = KeyServer(provider_documents())
    try:
        yield server
    finally:
        server.stop()


# -- the providers ----------------------------------------------------------------------


def iap_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": IAP_AUDIENCE,
        "azp": IAP_AUDIENCE,
        "email": "alice@example.com",
        "exp": NOW + 600,
        "google": {"access_levels": ["accessPolicies/1234/accessLevels/corp"]},
        "hd": "example.com",
        "iat": NOW - 5,
        "identity_source": "GOOGLE",
        "iss": "https://cloud.google.com/iap",
        "sub": "accounts.google.com:118204235421157233421",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def cf_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": [CF_AUDIENCE],
        "email": "alice@example.com",
        "exp": NOW + 600,
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "iss": f"https://{CF_TEAM}",
        "type": "app",
        "identity_nonce": "6ei69kawdKzMIAPF",
        "sub": "7335d417-61da-459d-899c-0a01c76a2f94",
        "country": "US",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def cf_service_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": [CF_AUDIENCE],
        "common_name": "88bf3b6d86161464f6509f7219099e57.access",
        "exp": NOW + 600,
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "iss": f"https://{CF_TEAM}",
        "sub": "",
        "type": "app",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def pom_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "aud": POM_ROUTE,
        "iss": POM_ROUTE,
        "exp": NOW + 600,
        "iat": NOW - 5,
        "sub": "CgVhbGljZRIEbG9jYWw",
        "user": "CgVhbGljZRIEbG9jYWw",
        "email": "alice@example.com",
        "groups": ["admins", "staff"],
        "name": "Alice",
        "jti": "5c4b6f3e-4f4a-4e8e-9d2c-6a1a0b9c8d7e",
        "sid": "7b1f5e2c",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


@dataclass(frozen=True)
class Provider:
    type: str
    header: str
    alg: str
    kid: str
    key: Any
    foreign_key: Any
    claims: Callable[..., dict[str, Any]]
    table: Callable[[KeyServer], dict[str, Any]]
    subject: str

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        key: Any = None,
        kid: str | None = None,
        alg: str | None = None,
    ) -> str:
        """A token as the provider mints it (PyJWT: header alg, kid, typ JWT)."""
        return jwt.encode(
            self.claims() if claims is None else claims,
            key if key is not None else self.key,
            algorithm=alg or self.alg,
            headers={"kid": kid or self.kid, "typ": "JWT"},
        )


IAP = Provider(
    "gcp-iap",
    "x-goog-iap-jwt-assertion",
    "ES256",
    IAP_KID,
    EC_PRIVATE,
    EC_OTHER,
    iap_claims,
    lambda server: {"type": "gcp-iap", "audience": IAP_AUDIENCE, "jwks_url": server.url(IAP_PATH)},
    "accounts.google.com:118204235421157233421",
)
CLOUDFLARE = Provider(
    "cloudflare-access",
    "cf-access-jwt-assertion",
    "RS256",
    CF_KID,
    RSA_PRIVATE,
    RSA_OTHER,
    cf_claims,
    lambda server: {
        "type": "cloudflare-access",
        "team_domain": CF_TEAM,
        "audience": CF_AUDIENCE,
        "jwks_url": server.url(CF_PATH),
    },
    "7335d417-61da-459d-899c-0a01c76a2f94",
)
POMERIUM = Provider(
    "pomerium",
    "x-pomerium-jwt-assertion",
    "ES256",
    POM_KID,
    EC_PRIVATE,
    EC_OTHER,
    pom_claims,
    lambda server: {
        "type": "pomerium",
        "route_domain": POM_ROUTE,
        "jwks_url": server.url(POM_PATH),
    },
    "CgVhbGljZRIEbG9jYWw",
)
PROVIDERS = {p.type: p for p in (IAP, CLOUDFLARE, POMERIUM)}


def build_source(table: dict[str, Any]) -> Source:
    return parse_source_config(Table(table, "sources[0]"), base_dir=Path.cwd(), replay_enabled=True)


def view(header: str, token: str, **extra: str) -> RequestView:
    headers = {header: [token], **{name: [value] for name, value in extra.items()}}
    return RequestView(
        method="GET",
        scheme="https",
        authority="app.example.com",
        raw_path="/api/orders",
        raw_query=None,
        route_path="/api/orders",
        peer=None,
        headers=headers,
    )


def signed_json(provider: Provider, claims: dict[str, Any]) -> str:
    """A token signed as the provider signs, whatever its claims hold (PyJWS, not PyJWT's checks)."""
    return jwt.PyJWS().encode(
        json.dumps(claims).encode(),
        provider.key,
        algorithm=provider.alg,
        headers={"kid": provider.kid, "typ": "JWT"},
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(provider: Provider) -> str:
    """Key confusion: HS256 keyed with the provider's public key (PEM), its kid."""
    header = b64(json.dumps({"alg": "HS256", "kid": provider.kid, "typ": "JWT"}).encode())
    payload = b64(json.dumps(provider.claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    secret = pem(provider.key).encode()
    return f"{header}.{payload}." + b64(hmac.new(secret, signing_input, hashlib.sha256).digest())


def alg_none(provider: Provider) -> str:
    header = b64(json.dumps({"alg": "none", "kid": provider.kid, "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(provider.claims()).encode())}."


def tampered(provider: Provider) -> str:
    """A valid token whose payload is swapped for one naming someone else."""
    head, _, signature = provider.token().split(".")
    forged = provider.claims(sub="mallory", email="mallory@example.com")
    return f"{head}.{b64(json.dumps(forged).encode())}.{signature}"


# -- one table, every entry point ---------------------------------------------------------

SERVICE_SUBJECT = "88bf3b6d86161464f6509f7219099e57.access"


def _case(provider: Provider, name: str, make: Callable[[], str], expected: str) -> Any:
    subject = SERVICE_SUBJECT if "service-token" in name else provider.subject
    return pytest.param(provider, make, expected, subject, id=f"{provider.type}: {name}")


def _common(p: Provider) -> list[tuple[str, Callable[[], str], str]]:
    return [
        ("valid", lambda: p.token(), "ok"),
        ("expired", lambda: p.token(p.claims(exp=NOW - 31, iat=NOW - 700)), "expired"),
        ("exp-within-30s-leeway", lambda: p.token(p.claims(exp=NOW - 25)), "ok"),
        ("issued-in-the-future", lambda: p.token(p.claims(iat=NOW + 60)), "not_yet_valid"),
        ("no-exp", lambda: p.token(p.claims(exp=None)), "malformed"),
        ("wrong-issuer", lambda: p.token(p.claims(iss="https://evil.example")), "bad_issuer"),
        ("foreign-key-unknown-kid", lambda: p.token(key=p.foreign_key, kid="x1"), "unknown_key"),
        ("foreign-key-known-kid", lambda: p.token(key=p.foreign_key), "bad_signature"),
        ("hs256-keyed-with-public-key", lambda: hs256_with_public_key(p), "algorithm_not_allowed"),
        ("alg-none", lambda: alg_none(p), "algorithm_not_allowed"),
        ("tampered-payload", lambda: tampered(p), "bad_signature"),
        ("not-a-jwt", lambda: "not.a-jwt", "malformed"),
        ("garbage", lambda: "e30.e30.%%%", "malformed"),
    ]


_P384 = ec.derive_private_key(0x384, ec.SECP384R1())
_PROJECT_ID_AUDIENCE = "/projects/orders-prod-2026/global/backendServices/4567890123456789"

SPECIFIC: list[tuple[Provider, str, Callable[[], str], str]] = [
    (IAP, "project-id-not-number", lambda: IAP.token(iap_claims(aud=_PROJECT_ID_AUDIENCE)), "bad_audience"),
    (IAP, "other-backend-service", lambda: IAP.token(iap_claims(aud="/projects/123456789012/global/backendServices/1")), "bad_audience"),
    (IAP, "app-engine-audience-not-configured", lambda: IAP.token(iap_claims(aud=IAP_APP_AUDIENCE)), "bad_audience"),
    (IAP, "no-email-no-hd", lambda: IAP.token(iap_claims(email=None, hd=None)), "ok"),
    (IAP, "no-iat", lambda: IAP.token(iap_claims(iat=None)), "malformed"),
    (IAP, "iat-not-a-number", lambda: signed_json(IAP, iap_claims(iat="yesterday")), "malformed"),
    (IAP, "aud-an-object", lambda: signed_json(IAP, iap_claims(aud={"aud": IAP_AUDIENCE})), "bad_audience"),
    (IAP, "iss-a-number", lambda: signed_json(IAP, iap_claims(iss=1)), "bad_issuer"),
    (IAP, "sub-a-list", lambda: signed_json(IAP, iap_claims(sub=["alice"])), "incomplete_claims"),
    (IAP, "payload-not-an-object", lambda: jwt.PyJWS().encode(b"[]", IAP.key, algorithm="ES256", headers={"kid": IAP_KID}), "malformed"),
    (IAP, "es384", lambda: IAP.token(key=_P384, alg="ES384"), "algorithm_not_allowed"),
    (CLOUDFLARE, "other-application-tag", lambda: CLOUDFLARE.token(cf_claims(aud=[CF_OTHER_AUDIENCE])), "bad_audience"),
    (CLOUDFLARE, "tag-among-several", lambda: CLOUDFLARE.token(cf_claims(aud=[CF_OTHER_AUDIENCE, CF_AUDIENCE])), "ok"),
    (CLOUDFLARE, "service-token", lambda: CLOUDFLARE.token(cf_service_claims()), "ok"),
    (CLOUDFLARE, "empty-sub-no-common-name", lambda: CLOUDFLARE.token(cf_service_claims(common_name=None)), "incomplete_claims"),
    (CLOUDFLARE, "empty-sub-common-name-a-number", lambda: CLOUDFLARE.token(cf_service_claims(common_name=7)), "incomplete_claims"),
    (CLOUDFLARE, "empty-sub-common-name-with-line-break", lambda: CLOUDFLARE.token(cf_service_claims(common_name="svc.access\nsubject=admin")), "incomplete_claims"),
    (CLOUDFLARE, "no-sub-is-not-a-service-token", lambda: CLOUDFLARE.token(cf_service_claims(sub=None)), "incomplete_claims"),
    (CLOUDFLARE, "aud-a-string-holding-the-tag", lambda: CLOUDFLARE.token(cf_claims(aud=CF_AUDIENCE)), "ok"),
    (CLOUDFLARE, "aud-empty-list", lambda: CLOUDFLARE.token(cf_claims(aud=[])), "bad_audience"),
    (CLOUDFLARE, "another-team", lambda: CLOUDFLARE.token(cf_claims(iss="https://otherteam.cloudflareaccess.com")), "bad_issuer"),
    (CLOUDFLARE, "public-cert-is-not-a-key", lambda: CLOUDFLARE.token(key=RSA_OTHER, kid=CF_CERT_KID), "unknown_key"),
    (CLOUDFLARE, "nbf-in-the-future", lambda: CLOUDFLARE.token(cf_claims(nbf=NOW + 60)), "not_yet_valid"),
    (CLOUDFLARE, "ps256", lambda: CLOUDFLARE.token(alg="PS256"), "algorithm_not_allowed"),
    (POMERIUM, "pre-v0.22-issuer-not-configured", lambda: POMERIUM.token(pom_claims(iss=POM_AUTHENTICATE)), "bad_issuer"),
    (POMERIUM, "audience-with-scheme", lambda: POMERIUM.token(pom_claims(aud=f"https://{POM_ROUTE}")), "bad_audience"),
    (POMERIUM, "other-route", lambda: POMERIUM.token(pom_claims(aud="billing.corp.example.com")), "bad_audience"),
    (POMERIUM, "route-in-capitals", lambda: POMERIUM.token(pom_claims(aud=POM_ROUTE.upper())), "bad_audience"),
    (POMERIUM, "iss-a-list", lambda: signed_json(POMERIUM, pom_claims(iss=[POM_ROUTE])), "bad_issuer"),
    (POMERIUM, "eddsa-not-configured", lambda: POMERIUM.token(key=ED_PRIVATE, kid="ed-1", alg="EdDSA"), "algorithm_not_allowed"),
]  # fmt: skip

CASES = [
    *(_case(p, name, make, expected) for p in PROVIDERS.values() for name, make, expected in _common(p)),
    *(_case(p, name, make, expected) for p, name, make, expected in SPECIFIC),
]  # fmt: skip


@pytest.fixture(scope="module")
def sources(key_server: KeyServer) -> dict[str, Source]:
    return {p.type: build_source(p.table(key_server)) for p in PROVIDERS.values()}


def mapping(key_server: KeyServer, *tables: dict[str, Any]) -> dict[str, object]:
    chosen = tables or tuple(p.table(key_server) for p in PROVIDERS.values())
    return config_mapping(sources=list(chosen))


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    identity = environ["edgeclaims.identity"]
    seen = sorted(k for k in environ if k.startswith(("HTTP_X_POMERIUM", "HTTP_X_GOOG", "HTTP_CF")))
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"sub": identity.subject, "source": identity.source, "seen": seen}).encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    identity = scope["edgeclaims.identity"]
    seen = sorted(
        n.decode()
        for n, _ in scope["headers"]
        if n.startswith((b"x-pom", b"x-goog", b"x_pom", b"cf-"))
    )
    body = json.dumps({"sub": identity.subject, "source": identity.source, "seen": seen}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def wsgi(key_server: KeyServer) -> WSGIMiddleware:
    return WSGIMiddleware(wsgi_app, mapping(key_server), clock=lambda: NOW)


@pytest.fixture(scope="module")
def asgi(key_server: KeyServer) -> ASGIMiddleware:
    return ASGIMiddleware(asgi_app, mapping(key_server), clock=lambda: NOW)


def call_wsgi(middleware: WSGIMiddleware, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    statuses: list[str] = []
    environ = build_wsgi_environ("GET", URL, headers)
    body = b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
    return int(statuses[0].split()[0]), json.loads(body)


def call_asgi(
    middleware: ASGIMiddleware, headers: dict[str, str] | list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(build_asgi_scope("GET", URL, headers), receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def verdict(status: int, body: dict[str, Any]) -> tuple[str, str | None]:
    return ("ok", body["sub"]) if status == 200 else (body["code"], None)


def expected_verdict(expected: str, subject: str) -> tuple[str, str | None]:
    return (expected, subject if expected == "ok" else None)


@pytest.mark.parametrize(("provider", "make", "expected", "subject"), CASES)
def test_source(
    sources: dict[str, Source],
    provider: Provider,
    make: Callable[[], str],
    expected: str,
    subject: str,
) -> None:
    try:
        assertion = sources[provider.type].verify(view(provider.header, make()), NOW)
    except VerificationError as exc:
        got = (exc.code, None)
    else:
        got = ("ok", assertion.subject)
    assert got == expected_verdict(expected, subject)


@pytest.mark.parametrize(("provider", "make", "expected", "subject"), CASES)
def test_wsgi(
    wsgi: WSGIMiddleware, provider: Provider, make: Callable[[], str], expected: str, subject: str
) -> None:
    status, body = call_wsgi(wsgi, {provider.header: make()})
    assert verdict(status, body) == expected_verdict(expected, subject)
    if status == 200:
        assert body["source"] == provider.type


@pytest.mark.parametrize(("provider", "make", "expected", "subject"), CASES)
def test_asgi(
    asgi: ASGIMiddleware, provider: Provider, make: Callable[[], str], expected: str, subject: str
) -> None:
    status, body = call_asgi(asgi, {provider.header: make()})
    assert verdict(status, body) == expected_verdict(expected, subject)


# -- Flask --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flask_client(key_server: KeyServer) -> Any:
    flask = pytest.importorskip("flask")
    from edgeclaims.contrib.flask import EdgeClaims, current_identity

    app = flask.Flask(__name__)
    app.config["EDGECLAIMS"] = mapping(key_server)
    EdgeClaims(app, clock=lambda: NOW)

    @app.get("/api/orders")
    def orders() -> Any:
        # Werkzeug's Headers iterate as (name, value) pairs.
        unsigned = sorted(
            k
            for k, _ in flask.request.headers
            if k.lower().startswith(
                ("x-pomerium-claim", "x-goog-authenticated", "cf-access-authenticated")
            )
        )
        return {
            "sub": current_identity.subject,
            "source": current_identity.source,
            "seen": unsigned,
        }

    return app.test_client()


@pytest.mark.parametrize(("provider", "make", "expected", "subject"), CASES)
def test_flask(
    flask_client: Any, provider: Provider, make: Callable[[], str], expected: str, subject: str
) -> None:
    response = flask_client.get(
        "/api/orders", base_url="https://app.example.com", headers={provider.header: make()}
    )
    assert verdict(response.status_code, response.get_json()) == expected_verdict(expected, subject)


# -- what each provider adds -------------------------------------------------------------


def _refusal(source: Source, header: str, token: str) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        source.verify(view(header, token), NOW)
    return caught.value


def test_iap_audience_mismatch_says_expected_and_seen_without_the_token(
    sources: dict[str, Source],
) -> None:
    token = IAP.token(iap_claims(aud=_PROJECT_ID_AUDIENCE))
    error = _refusal(sources["gcp-iap"], IAP.header, token)
    assert error.code == "bad_audience"
    assert error.detail == (
        f"expected audience '{IAP_AUDIENCE}', the token's aud is '{_PROJECT_ID_AUDIENCE}'"
    )
    assert token not in repr(error)
    assert token.split(".")[2] not in error.detail


def test_cloudflare_audience_mismatch_shows_the_tags_seen(sources: dict[str, Source]) -> None:
    token = CLOUDFLARE.token(cf_claims(aud=[CF_OTHER_AUDIENCE, "x" * 500, "c", "d", "e"]))
    detail = _refusal(sources["cloudflare-access"], CLOUDFLARE.header, token).detail
    assert detail.startswith(
        f"expected audience '{CF_AUDIENCE}', the token's aud is ['{CF_OTHER_AUDIENCE}', "
    )
    assert "'" + "x" * 100 + "'..." in detail
    assert "x" * 101 not in detail
    assert detail.endswith(", ... 2 more]")


def test_seen_values_are_escaped(sources: dict[str, Source]) -> None:
    token = POMERIUM.token(pom_claims(aud="orders\r\nforged: line\u202e"))
    detail = _refusal(sources["pomerium"], POMERIUM.header, token).detail
    assert detail.isascii()
    assert "\n" not in detail
    assert "\r" not in detail
    assert "\\r\\n" in detail
    assert "\\u202e" in detail


def test_issuer_mismatch_says_expected_and_seen(sources: dict[str, Source]) -> None:
    token = POMERIUM.token(pom_claims(iss=POM_AUTHENTICATE))
    detail = _refusal(sources["pomerium"], POMERIUM.header, token).detail
    assert detail == f"expected issuer '{POM_ROUTE}', the token's iss is '{POM_AUTHENTICATE}'"


def test_the_decision_log_shows_the_code_not_the_audience_nor_the_token(
    wsgi: WSGIMiddleware, caplog: pytest.LogCaptureFixture
) -> None:
    token = IAP.token(iap_claims(aud=_PROJECT_ID_AUDIENCE, email="alice@example.com"))
    with caplog.at_level(logging.INFO, logger="edgeclaims"):
        status, body = call_wsgi(wsgi, {IAP.header: token})
    assert (status, body["code"]) == (401, "bad_audience")
    assert set(body) == {"type", "title", "status", "code"}
    logged = caplog.text + json.dumps([getattr(r, "edgeclaims", None) for r in caplog.records])
    assert "code=bad_audience" in logged
    for secret in (token, token.split(".")[1], "orders-prod-2026", "alice@example.com"):
        assert secret not in logged


@pytest.mark.parametrize(
    ("provider", "claims", "detail"),
    [
        pytest.param(IAP, iap_claims(aud={"aud": IAP_AUDIENCE}), f"expected audience '{IAP_AUDIENCE}', the token's aud is an object", id="aud-an-object"),
        pytest.param(IAP, iap_claims(aud=None), f"expected audience '{IAP_AUDIENCE}', the token's aud is absent or null", id="aud-absent"),
        pytest.param(IAP, iap_claims(iss=1), "expected issuer 'https://cloud.google.com/iap', the token's iss is a number", id="iss-a-number"),
        pytest.param(CLOUDFLARE, cf_claims(aud=[CF_OTHER_AUDIENCE, 5, True, "x"]), f"expected audience '{CF_AUDIENCE}', the token's aud is ['{CF_OTHER_AUDIENCE}', a number, a boolean, ... 1 more]", id="aud-list-shortened"),
        pytest.param(POMERIUM, pom_claims(aud="\u202ebilling\n" + "x" * 200), "expected audience 'orders.corp.example.com', the token's aud is '\\u202ebilling\\n" + "x" * 91 + "'...", id="aud-escaped-and-cut"),
        pytest.param(POMERIUM, pom_claims(iss=[POM_ROUTE]), "expected issuer 'orders.corp.example.com', the token's iss is ['orders.corp.example.com']", id="iss-a-list"),
    ],
)  # fmt: skip
def test_mismatch_detail_shows_strings_escaped_and_other_values_by_type(
    sources: dict[str, Source], provider: Provider, claims: dict[str, Any], detail: str
) -> None:
    token = signed_json(provider, claims)
    error = _refusal(sources[provider.type], provider.header, token)
    assert error.detail == detail
    assert detail.isascii()


def test_an_accepted_request_logs_the_subject_and_no_other_claim(
    wsgi: WSGIMiddleware, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="edgeclaims"):
        status, _ = call_wsgi(wsgi, {IAP.header: IAP.token()})
    assert status == 200
    assert f"subject={IAP.subject}" in caplog.text
    assert "alice@example.com" not in caplog.text
    assert "example.com" not in caplog.text.replace("app.example.com", "")


def test_iap_app_engine_audience(key_server: KeyServer) -> None:
    source = build_source({**IAP.table(key_server), "audience": IAP_APP_AUDIENCE})
    assertion = source.verify(view(IAP.header, IAP.token(iap_claims(aud=IAP_APP_AUDIENCE))), NOW)
    assert assertion.subject == IAP.subject
    assert assertion.claims["email"] == "alice@example.com"
    assert assertion.claims["hd"] == "example.com"
    with pytest.raises(VerificationError, match="expected audience") as caught:
        source.verify(view(IAP.header, IAP.token()), NOW)
    assert caught.value.code == "bad_audience"


def test_cloudflare_service_token_subject_is_its_common_name(sources: dict[str, Source]) -> None:
    assertion = sources["cloudflare-access"].verify(
        view(CLOUDFLARE.header, CLOUDFLARE.token(cf_service_claims())), NOW
    )
    assert assertion.subject == SERVICE_SUBJECT
    assert "email" not in assertion.claims
    assert assertion.claims["sub"] == ""


def test_cloudflare_email_required_refuses_service_tokens(key_server: KeyServer) -> None:
    source = build_source({**CLOUDFLARE.table(key_server), "required_claims": ["email"]})
    assert (
        source.verify(view(CLOUDFLARE.header, CLOUDFLARE.token()), NOW).subject
        == CLOUDFLARE.subject
    )
    error = _refusal(source, CLOUDFLARE.header, CLOUDFLARE.token(cf_service_claims()))
    assert error.code == "incomplete_claims"


def test_pomerium_issuers_list_accepts_the_authenticate_domain(key_server: KeyServer) -> None:
    source = build_source({**POMERIUM.table(key_server), "issuers": [POM_ROUTE, POM_AUTHENTICATE]})
    old = POMERIUM.token(pom_claims(iss=POM_AUTHENTICATE))
    assert source.verify(view(POMERIUM.header, old), NOW).subject == POMERIUM.subject
    assert source.verify(view(POMERIUM.header, POMERIUM.token()), NOW).subject == POMERIUM.subject
    forged = POMERIUM.token(pom_claims(iss="authenticate.evil.example"))
    assert _refusal(source, POMERIUM.header, forged).code == "bad_issuer"


def test_pomerium_eddsa_when_configured(key_server: KeyServer) -> None:
    source = build_source({**POMERIUM.table(key_server), "algorithms": ["ES256", "EdDSA"]})
    eddsa = POMERIUM.token(key=ED_PRIVATE, kid="ed-1", alg="EdDSA")
    assert source.verify(view(POMERIUM.header, eddsa), NOW).subject == POMERIUM.subject
    # Each key stays bound to its own algorithm: the P-256 key's kid with EdDSA fails.
    confused = POMERIUM.token(key=ED_PRIVATE, alg="EdDSA")
    assert _refusal(source, POMERIUM.header, confused).code == "algorithm_not_allowed"


def test_pomerium_keys_never_come_from_the_tokens_issuer(key_server: KeyServer) -> None:
    # A token naming another issuer (whose keys an attacker would host) is judged
    # with the configured keys only: nothing is fetched from its iss.
    before = dict(key_server.requests)
    source = build_source(
        {**POMERIUM.table(key_server), "issuers": [POM_ROUTE, key_server.url("")]}
    )
    token = POMERIUM.token(pom_claims(iss=key_server.url("")), key=EC_OTHER, kid="attacker")
    assert _refusal(source, POMERIUM.header, token).code == "unknown_key"
    fetched = {path for path, n in key_server.requests.items() if n != before.get(path)}
    assert fetched <= {POM_PATH}


# -- unsigned convenience headers never reach the app -----------------------------------

UNSIGNED = {
    "X-Pomerium-Claim-Email": "mallory@example.com",
    "X-Pomerium-Claim-Groups": "admins",
    "X-Goog-Authenticated-User-Email": "accounts.google.com:mallory@example.com",
    "X-Goog-Authenticated-User-Id": "accounts.google.com:666",
    "Cf-Access-Authenticated-User-Email": "mallory@example.com",
}


@pytest.mark.parametrize("provider", PROVIDERS.values(), ids=PROVIDERS)
def test_unsigned_headers_are_stripped_wsgi(wsgi: WSGIMiddleware, provider: Provider) -> None:
    status, body = call_wsgi(wsgi, {provider.header: provider.token(), **UNSIGNED})
    assert (status, body["seen"]) == (200, [])


@pytest.mark.parametrize("provider", PROVIDERS.values(), ids=PROVIDERS)
def test_unsigned_headers_are_stripped_asgi(asgi: ASGIMiddleware, provider: Provider) -> None:
    spelled = [(name.replace("-", "_"), value) for name, value in UNSIGNED.items()]
    status, body = call_asgi(
        asgi, [(provider.header, provider.token()), *UNSIGNED.items(), *spelled]
    )
    assert (status, body["seen"]) == (200, [])


def test_unsigned_headers_are_stripped_flask(flask_client: Any) -> None:
    response = flask_client.get(
        "/api/orders",
        base_url="https://app.example.com",
        headers={POMERIUM.header: POMERIUM.token(), **UNSIGNED},
    )
    assert response.status_code == 200
    assert response.get_json()["seen"] == []


@pytest.fixture(scope="module")
def django_middleware(key_server: KeyServer) -> Any:
    """Django's own middleware class, its engine built from the providers' tables."""
    contrib = Path(__file__).resolve().parent / "contrib"
    if str(contrib) not in sys.path:  # django_project and contrib_tables live there
        sys.path.insert(0, str(contrib))
    from contrib_tables import framework

    django = framework("django")
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
    django.setup()
    from edgeclaims.contrib.django.middleware import EdgeClaimsMiddleware
    from edgeclaims.engine import Engine

    class ProvidersMiddleware(EdgeClaimsMiddleware):
        def build_engine(self) -> Engine:
            return Engine(mapping(key_server), clock=lambda: NOW)

    return ProvidersMiddleware


def _django_seen(request: Any) -> dict[str, Any]:
    """What a Django view can read of the providers' unsigned headers."""
    prefixes = ("x-pomerium", "x-goog", "cf-access")
    return {
        "sub": request.edgeclaims.subject,
        "headers": sorted(k for k in request.headers if k.lower().startswith(prefixes)),
        "meta": sorted(k for k in request.META if k.startswith(("HTTP_X_POMERIUM", "HTTP_X_GOOG", "HTTP_CF"))),
    }  # fmt: skip


@pytest.mark.parametrize("provider", PROVIDERS.values(), ids=PROVIDERS)
def test_unsigned_headers_are_stripped_django_wsgi(
    django_middleware: Any, provider: Provider
) -> None:
    from django.core.handlers.wsgi import WSGIRequest
    from django.http import HttpRequest, JsonResponse

    def view(request: HttpRequest) -> JsonResponse:
        return JsonResponse(_django_seen(request))

    request = WSGIRequest(
        build_wsgi_environ("GET", URL, {provider.header: provider.token(), **UNSIGNED})
    )
    assert request.headers  # cached from META before the middleware runs: must not survive it
    response = django_middleware(view)(request)
    assert response.status_code == 200
    assert json.loads(response.content) == {"sub": provider.subject, "headers": [], "meta": []}


@pytest.mark.parametrize("provider", PROVIDERS.values(), ids=PROVIDERS)
def test_unsigned_headers_are_stripped_django_asgi(
    django_middleware: Any, provider: Provider
) -> None:
    from django.core.handlers.asgi import ASGIRequest
    from django.http import HttpRequest, JsonResponse

    scopes: list[list[tuple[bytes, bytes]]] = []

    async def view(request: HttpRequest) -> JsonResponse:
        scopes.append(request.scope["headers"])  # type: ignore[attr-defined]
        return JsonResponse(_django_seen(request))

    spelled = [(name.replace("-", "_"), value) for name, value in UNSIGNED.items()]
    scope = build_asgi_scope(
        "GET", URL, [(provider.header, provider.token()), *UNSIGNED.items(), *spelled]
    )
    response = asyncio.run(django_middleware(view)(ASGIRequest(scope, io.BytesIO(b""))))
    assert response.status_code == 200
    assert json.loads(response.content) == {"sub": provider.subject, "headers": [], "meta": []}
    assert [
        n for n, _ in scopes[0] if n.startswith((b"x-pom", b"x_pom", b"x-goog", b"x_goog", b"cf"))
    ] == []


def test_unsigned_headers_alone_are_not_an_identity(wsgi: WSGIMiddleware) -> None:
    status, body = call_wsgi(wsgi, UNSIGNED)
    assert (status, body["code"]) == (401, "missing")


def test_identity_headers_prefix() -> None:
    headers = IdentityHeaders(["x-edge-jwt", "x-pomerium-claim-*"])
    environ = {
        "HTTP_X_POMERIUM_CLAIM_EMAIL": "a",
        "HTTP_X_POMERIUM_CLAIMS": "b",
        "HTTP_X_EDGE_JWT": "c",
        "PATH_INFO": "/",
    }
    headers.strip_environ(environ)
    assert environ == {"HTTP_X_POMERIUM_CLAIMS": "b", "PATH_INFO": "/"}
    kept = headers.strip_scope_headers(
        [
            (b"x-pomerium-claim-email", b"a"),
            (b"X_Pomerium_Claim_Sub", b"b"),
            (b"x-pomerium-claims", b"c"),
        ]
    )
    assert kept == [(b"x-pomerium-claims", b"c")]


# -- keys: Cloudflare's rotation, refetch limits, default URLs ---------------------------------


def test_cloudflare_rotation_refetches_for_an_unknown_kid() -> None:
    new_kid = "2" + CF_KID[1:]
    server = KeyServer(provider_documents())
    try:
        source = build_source({**CLOUDFLARE.table(server), "min_refetch_interval": 0})
        assert source.verify(view(CLOUDFLARE.header, CLOUDFLARE.token()), NOW).subject
        assert server.requests == {CF_PATH: 1}
        # Cloudflare publishes the new key; the old one stays listed for 7 days.
        document = dict(provider_documents()[CF_PATH])  # type: ignore[call-overload]
        document["keys"] = [_jwk(RSA_OTHER, new_kid, "RS256"), _jwk(RSA_PRIVATE, CF_KID, "RS256")]
        server.documents[CF_PATH] = document
        rotated = CLOUDFLARE.token(key=RSA_OTHER, kid=new_kid)
        assert source.verify(view(CLOUDFLARE.header, rotated), NOW).subject == CLOUDFLARE.subject
        assert server.requests == {CF_PATH: 2}
        assert source.verify(
            view(CLOUDFLARE.header, CLOUDFLARE.token(cf_claims(country="DE"))), NOW
        )
        assert server.requests == {CF_PATH: 2}
    finally:
        server.stop()


def test_unknown_kids_do_not_flood_the_endpoint() -> None:
    server = KeyServer(provider_documents())
    try:
        source = build_source(CLOUDFLARE.table(server))  # min_refetch_interval 60 s
        for index in range(20):
            token = CLOUDFLARE.token(key=RSA_OTHER, kid=f"unknown-{index}")
            assert _refusal(source, CLOUDFLARE.header, token).code == "unknown_key"
        assert server.requests == {CF_PATH: 1}
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("table", "url"),
    [
        pytest.param({"type": "gcp-iap", "audience": IAP_AUDIENCE}, "https://www.gstatic.com/iap/verify/public_key-jwk", id="gcp-iap"),
        pytest.param({"type": "cloudflare-access", "team_domain": "MyTeam.cloudflareaccess.com", "audience": CF_AUDIENCE}, "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs", id="cloudflare-access"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE}, f"https://{POM_ROUTE}/.well-known/pomerium/jwks.json", id="pomerium"),
    ],
)  # fmt: skip
def test_default_key_urls(table: dict[str, Any], url: str) -> None:
    source = build_source(table)
    assert repr(source.keys) == f"JWKSClient({url!r})"  # type: ignore[attr-defined]
    assert source.leeway == 30  # type: ignore[attr-defined]
    assert source.name == table["type"]


@pytest.mark.parametrize(
    ("table", "path"),
    [
        pytest.param({"type": "gcp-iap"}, "sources[0].audience", id="iap-no-audience"),
        pytest.param({"type": "gcp-iap", "audience": _PROJECT_ID_AUDIENCE}, "sources[0].audience", id="iap-project-id"),
        pytest.param({"type": "gcp-iap", "audience": "123456789012"}, "sources[0].audience", id="iap-bare-number"),
        pytest.param({"type": "gcp-iap", "audience": IAP_AUDIENCE, "jwks_url": "http://keys.example.com/jwk"}, "sources[0].jwks_url", id="iap-http-url"),
        pytest.param({"type": "gcp-iap", "audience": IAP_AUDIENCE, "leeway": -1}, "sources[0].leeway", id="iap-negative-leeway"),
        pytest.param({"type": "gcp-iap", "audience": IAP_AUDIENCE, "algorithms": ["ES256"]}, "sources[0].algorithms", id="iap-algorithms-not-a-setting"),
        pytest.param({"type": "cloudflare-access", "audience": CF_AUDIENCE}, "sources[0].team_domain", id="cf-no-team-domain"),
        pytest.param({"type": "cloudflare-access", "team_domain": CF_TEAM}, "sources[0].audience", id="cf-no-audience"),
        pytest.param({"type": "cloudflare-access", "team_domain": f"https://{CF_TEAM}", "audience": CF_AUDIENCE}, "sources[0].team_domain", id="cf-team-domain-with-scheme"),
        pytest.param({"type": "cloudflare-access", "team_domain": f"{CF_TEAM}/cdn-cgi", "audience": CF_AUDIENCE}, "sources[0].team_domain", id="cf-team-domain-with-path"),
        pytest.param({"type": "cloudflare-access", "team_domain": CF_TEAM, "audience": "myapp"}, "sources[0].audience", id="cf-audience-not-a-tag"),
        pytest.param({"type": "cloudflare-access", "team_domain": CF_TEAM, "audience": CF_AUDIENCE, "jwks_url": "http://10.0.0.5/certs"}, "sources[0].jwks_url", id="cf-http-url"),
        pytest.param({"type": "pomerium"}, "sources[0].route_domain", id="pom-no-route-domain"),
        pytest.param({"type": "pomerium", "route_domain": f"https://{POM_ROUTE}"}, "sources[0].route_domain", id="pom-route-with-scheme"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE, "issuers": []}, "sources[0].issuers", id="pom-no-issuers"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE, "issuers": [""]}, "sources[0].issuers[0]", id="pom-empty-issuer"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE, "algorithms": ["ES256", "HS256"]}, "sources[0].algorithms[1]", id="pom-hs256"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE, "algorithms": ["none"]}, "sources[0].algorithms[0]", id="pom-none"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE, "jwks_url": "http://pomerium.internal/jwks.json"}, "sources[0].jwks_url", id="pom-http-url"),
        pytest.param({"type": "pomerium", "route_domain": POM_ROUTE, "header": "X-Other"}, "sources[0].header", id="pom-header-not-a-setting"),
    ],
)  # fmt: skip
def test_configuration_errors_name_the_key(table: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build_source(table)
    assert caught.value.path == path


# -- edgeclaims.testing.ProviderTokens -------------------------------------------------------


def test_provider_tokens_verify_through_the_middleware() -> None:
    with ProviderTokens.serving(clock=lambda: NOW) as tokens:
        assert tokens.jwks_url is not None
        tables = [
            {"type": "gcp-iap", "audience": IAP_AUDIENCE, "jwks_url": tokens.jwks_url},
            {"type": "cloudflare-access", "team_domain": CF_TEAM, "audience": CF_AUDIENCE, "jwks_url": tokens.jwks_url},
            {"type": "pomerium", "route_domain": POM_ROUTE, "jwks_url": tokens.jwks_url, "algorithms": ["ES256", "EdDSA"]},
        ]  # fmt: skip
        middleware = WSGIMiddleware(wsgi_app, config_mapping(sources=tables), clock=lambda: NOW)
        cases = [
            (tokens.gcp_iap(IAP_AUDIENCE, sub="accounts.google.com:42"), "accounts.google.com:42", "gcp-iap"),
            (tokens.cloudflare_access(CF_TEAM, CF_AUDIENCE, sub="u-1"), "u-1", "cloudflare-access"),
            (tokens.cloudflare_access(CF_TEAM, CF_AUDIENCE, email=None, common_name="svc.access"), "svc.access", "cloudflare-access"),
            (tokens.pomerium(POM_ROUTE, sub="bob"), "bob", "pomerium"),
            (tokens.pomerium(POM_ROUTE, sub="carol", alg="EdDSA"), "carol", "pomerium"),
        ]  # fmt: skip
        for headers, subject, source in cases:
            status, body = call_wsgi(middleware, headers)
            assert (status, body["sub"], body["source"]) == (200, subject, source)
        refused = tokens.gcp_iap("/projects/1/apps/other-project")
        assert call_wsgi(middleware, refused)[1]["code"] == "bad_audience"


def test_provider_tokens_sign_only_with_the_providers_algorithms() -> None:
    tokens = ProviderTokens(clock=lambda: NOW)
    with pytest.raises(ValueError, match="not 'HS256'"):
        tokens.pomerium(POM_ROUTE, alg="HS256")


def test_cli_verify_explains_an_audience_mismatch(
    key_server: KeyServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeclaims import cli

    table = IAP.table(key_server)
    config = tmp_path / "edgeclaims.toml"
    config.write_text(
        "[edgeclaims]\n\n[[edgeclaims.sources]]\n"
        f'type = "gcp-iap"\naudience = "{table["audience"]}"\njwks_url = "{table["jwks_url"]}"\n',
        encoding="utf-8",
    )
    token = IAP.token(iap_claims(aud=_PROJECT_ID_AUDIENCE))
    status = cli.main(
        [
            "verify",
            "--config",
            str(config),
            "--url",
            "https://app.example.com/api/orders",
            "--now",
            str(NOW),
            "-H",
            f"{IAP.header}: {token}",
        ]
    )
    out = capsys.readouterr()
    shown = out.out + out.err
    assert status != 0
    assert "bad_audience" in shown
    assert f"expected audience '{IAP_AUDIENCE}'" in shown
    assert f"the token's aud is '{_PROJECT_ID_AUDIENCE}'" in shown
    assert token.split(".")[2] not in shown


@pytest.mark.parametrize(
    ("provider", "table", "token", "code", "shown"),
    [
        pytest.param(IAP, {}, lambda: IAP.token(iap_claims(aud=_PROJECT_ID_AUDIENCE)), "bad_audience", "the number, never the project id", id="iap-project-id"),
        pytest.param(CLOUDFLARE, {}, lambda: CLOUDFLARE.token(cf_claims(aud=[CF_OTHER_AUDIENCE])), "bad_audience", "AUD tag, 64 hex digits", id="cloudflare-other-application"),
        pytest.param(CLOUDFLARE, {}, lambda: CLOUDFLARE.token(cf_claims(iss="https://otherteam.cloudflareaccess.com")), "bad_issuer", f"the issuer is https://{CF_TEAM}: check team_domain", id="cloudflare-other-team"),
        pytest.param(CLOUDFLARE, {"required_claims": ["email"]}, lambda: CLOUDFLARE.token(cf_service_claims()), "incomplete_claims", '"email" refuses service tokens', id="cloudflare-service-token-email-required"),
        pytest.param(POMERIUM, {}, lambda: POMERIUM.token(pom_claims(iss=POM_AUTHENTICATE)), "bad_issuer", "Pomerium before v0.22", id="pomerium-pre-v0.22"),
        pytest.param(POMERIUM, {}, lambda: POMERIUM.token(key=ED_PRIVATE, kid="ed-1", alg="EdDSA"), "algorithm_not_allowed", 'algorithms = ["ES256", "EdDSA"]', id="pomerium-eddsa"),
    ],
)  # fmt: skip
def test_cli_verify_hints_at_the_setting_to_check(
    key_server: KeyServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    provider: Provider,
    table: dict[str, Any],
    token: Callable[[], str],
    code: str,
    shown: str,
) -> None:
    from edgeclaims import cli

    config = tmp_path / "edgeclaims.toml"
    settings = {**provider.table(key_server), **table}
    config.write_text(
        "[edgeclaims]\n\n[[edgeclaims.sources]]\n"
        + "".join(f"{name} = {json.dumps(value)}\n" for name, value in settings.items()),
        encoding="utf-8",
    )
    minted = token()
    argv = ["verify", "--config", str(config), "--url", URL, "--now", str(NOW)]
    status = cli.main([*argv, "-H", f"{provider.header}: {minted}"])
    out = capsys.readouterr().out
    assert status == 1
    assert f"✗ {code}: " in out
    (hint,) = [line for line in out.splitlines() if line.strip().startswith("hint:")]
    assert shown in hint
    assert minted.split(".")[1] not in out
    assert minted.split(".")[2] not in out


def test_cli_verify_gives_no_hint_when_accepted(
    key_server: KeyServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgeclaims import cli

    config = tmp_path / "edgeclaims.toml"
    config.write_text(
        "[edgeclaims]\n\n[[edgeclaims.sources]]\n"
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in POMERIUM.table(key_server).items()),
        encoding="utf-8",
    )
    argv = ["verify", "--config", str(config), "--url", URL, "--now", str(NOW)]
    assert cli.main([*argv, "-H", f"{POMERIUM.header}: {POMERIUM.token()}"]) == 0
    out = capsys.readouterr().out
    assert "hint:" not in out
    assert f"verdict: accepted — subject '{POMERIUM.subject}' via pomerium" in out
