"""The ``aws-alb`` source (spec/providers.md, "aws-alb").

Tokens are minted here as an Application Load Balancer mints them — the
JOSE header ``{"typ","kid","alg","iss","client","signer","exp"}``, the IdP's
user info as payload, every segment base64url **with** ``=`` padding and the
signature over the padded text — with ``cryptography`` and ``base64``
directly, not with edgeclaims' own signer. Keys are served by a real HTTP
server on 127.0.0.1, one PEM per ``/<kid>`` path, counting requests. One
table of tokens runs through the source, the WSGI middleware, the ASGI
middleware and Flask, and must give the same verdicts everywhere.
``providers.json``'s ``aws_alb_padded_es256`` (a padded token from outside
this project) must verify padded and fail once its padding is stripped.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from tables import config_mapping
from test_jws import EC_OTHER, EC_PRIVATE, NOW, RSA_PRIVATE

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError, VerificationError
from edgeclaims.pem_key_client import PEMKeyClient
from edgeclaims.request import RequestView
from edgeclaims.sources import Source, parse_source_config
from edgeclaims.sources.aws_alb import ALBSource, parse_alb_token, signature_verifies
from edgeclaims.testing import ProviderTokens, build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

VECTORS = Path(__file__).resolve().parent / "vectors" / "providers.json"
URL = "https://app.example.com/api/orders"
HEADER = "x-amzn-oidc-data"

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-web/50dc6c495c0c9188"
OTHER_ARN = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/billing/7a3f0c1d2e4b5a69"
)
ISSUER = "https://idp.example.com"
CLIENT = "0oa1b2c3d4e5f6g7h8i9"
KID = "9c2f4b3e-6a1d-4f7e-b8c0-5d2e1f3a4b6c"
ROTATED_KID = "1b2c3d4e-5f60-4718-9a0b-c1d2e3f4a5b6"  # served, holds the foreign key
SUBJECT = "248289761001"
UNSIGNED = {"x-amzn-oidc-accesstoken": "eyJhY2Nlc3M.forged.token", "x-amzn-oidc-identity": "admin"}


def pem(private: Any) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- minting, as ALB does ------------------------------------------------------------------


def seg(data: bytes | dict[str, Any]) -> str:
    """Base64url WITH padding, as ALB writes each segment."""
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).decode()


def alb_header(**overrides: Any) -> dict[str, Any]:
    header: dict[str, Any] = {
        "typ": "JWT",
        "kid": KID,
        "alg": "ES256",
        "iss": ISSUER,
        "client": CLIENT,
        "signer": ARN,
        "exp": NOW + 120,
    }
    header.update(overrides)
    return {name: value for name, value in header.items() if value is not None}


def alb_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": SUBJECT,
        "email": "alice@example.com",
        "email_verified": "true",
        "username": "alice",
        "exp": NOW + 120,
        "iss": ISSUER,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def es256(private: Any, signing_input: bytes) -> bytes:
    r, s = utils.decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def mint(
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    *,
    key: Any = EC_PRIVATE,
) -> str:
    signing_input = f"{seg(header or alb_header())}.{seg(claims or alb_claims())}"
    return f"{signing_input}.{seg(es256(key, signing_input.encode()))}"


def unpadded(token: str) -> str:
    return token.replace("=", "")


def signed_unpadded() -> str:
    """A token signed over (and sent as) unpadded segments: the decoder accepts both."""
    signing_input = f"{unpadded(seg(alb_header()))}.{unpadded(seg(alb_claims()))}"
    return f"{signing_input}.{unpadded(seg(es256(EC_PRIVATE, signing_input.encode())))}"


def hs256_with_public_key() -> str:
    """Key confusion: HS256 keyed with the ALB's public key PEM."""
    signing_input = f"{seg(alb_header(alg='HS256'))}.{seg(alb_claims())}"
    digest = hmac.new(pem(EC_PRIVATE), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{seg(digest)}"


def alg_none() -> str:
    return f"{seg(alb_header(alg='none'))}.{seg(alb_claims())}."


def tampered() -> str:
    head, _, signature = mint().split(".")
    return f"{head}.{seg(alb_claims(sub='mallory', email='mallory@example.com'))}.{signature}"


def padding_stripped() -> str:
    """The ALB's own token, its `=` removed: the signature was over the padded text."""
    token = mint()
    assert "=" in token.split(".")[0] or "=" in token.split(".")[1]
    return unpadded(token)


def padding_inside() -> str:
    head, payload, signature = mint().split(".")
    return f"{head}.{payload[:8]}={payload[8:]}.{signature}"


def standard_alphabet() -> str:
    head, payload, signature = mint().split(".")
    return f"{head}.{payload}.+/{signature[2:]}"


def overpadded() -> str:
    head, payload, signature = mint().split(".")
    return f"{head}.{payload}.{signature.rstrip('=')}==="


# -- the key endpoint -----------------------------------------------------------------------


class KeyServer:
    """A real HTTP server on 127.0.0.1: one PEM per ``/keys/<kid>``; counts requests."""

    def __init__(self, documents: dict[str, bytes], *, delay: float = 0.0) -> None:
        self.documents = documents
        self.requests: list[str] = []
        #: True: every answer is a 500, as an endpoint in trouble gives.
        self.failing = False
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    server.requests.append(self.path)
                if delay:
                    time.sleep(delay)
                body = server.documents.get(self.path)
                if server.failing:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/keys/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"/keys/{KID}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/keys"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def alb_documents() -> dict[str, bytes]:
    return {
        f"/keys/{KID}": pem(EC_PRIVATE),
        f"/keys/{ROTATED_KID}": pem(EC_OTHER),
        "/keys/00000000-0000-4000-8000-000000000001": pem(RSA_PRIVATE),
        "/keys/00000000-0000-4000-8000-000000000002": b"not a key at all",
        "/keys/00000000-0000-4000-8000-000000000003": pem(EC_PRIVATE) + pem(EC_OTHER),
    }


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer(alb_documents())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_server() -> Iterator[KeyServer]:
    server = KeyServer(alb_documents())
    try:
        yield server
    finally:
        server.stop()


#: The table's sources meet several kids in any order: no wait between fetches there
#: (the limits have tests of their own, with the default interval).
EAGER = {"min_refetch_interval": 0}


def table(server_or_url: KeyServer | str, **overrides: Any) -> dict[str, Any]:
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    settings: dict[str, Any] = {
        "type": "aws-alb",
        "signer_arn": ARN,
        "key_base_url": url,
        "issuer": ISSUER,
        "client_id": CLIENT,
    }
    settings.update(overrides)
    return settings


def build_source(settings: dict[str, Any]) -> Source:
    return parse_source_config(
        Table(settings, "sources[0]"), base_dir=Path.cwd(), replay_enabled=True
    )


def view(token: str, **extra: str) -> RequestView:
    headers = {HEADER: [token], **{name: [value] for name, value in extra.items()}}
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


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/keys"


# -- one table, every entry point -------------------------------------------------------------

CASES = [
    pytest.param(lambda: mint(), "ok", id="valid"),
    pytest.param(lambda: signed_unpadded(), "ok", id="signed-and-sent-unpadded"),
    pytest.param(lambda: mint(alb_header(exp=NOW - 31), alb_claims(exp=NOW - 31)), "expired", id="expired"),
    pytest.param(lambda: mint(alb_header(exp=NOW - 25), alb_claims(exp=NOW - 25)), "ok", id="exp-within-30s-leeway"),
    pytest.param(lambda: mint(alb_header(exp=NOW - 31)), "expired", id="header-exp-past-payload-fresh"),
    pytest.param(lambda: mint(alb_header(), alb_claims(exp=NOW - 31)), "expired", id="payload-exp-past-header-fresh"),
    pytest.param(lambda: mint(alb_header(exp=None), alb_claims(exp=None)), "malformed", id="no-exp-anywhere"),
    pytest.param(lambda: mint(alb_header(exp=None)), "ok", id="exp-in-payload-only"),
    pytest.param(lambda: mint(alb_header(exp="tomorrow")), "malformed", id="exp-a-string"),
    pytest.param(lambda: mint(alb_header(), alb_claims(nbf=NOW + 60)), "not_yet_valid", id="nbf-in-the-future"),
    pytest.param(lambda: mint(alb_header(signer=OTHER_ARN)), "bad_issuer", id="wrong-signer"),
    pytest.param(lambda: mint(alb_header(signer=None)), "bad_issuer", id="no-signer"),
    pytest.param(lambda: mint(alb_header(signer=ARN.upper())), "bad_issuer", id="signer-in-capitals"),
    pytest.param(lambda: mint(alb_header(iss="https://evil.example")), "bad_issuer", id="wrong-issuer"),
    pytest.param(lambda: mint(alb_header(), alb_claims(iss="https://evil.example")), "bad_issuer", id="wrong-issuer-in-payload"),
    pytest.param(lambda: mint(alb_header(client="another-client")), "bad_audience", id="wrong-client"),
    pytest.param(lambda: mint(alb_header(client=None)), "bad_audience", id="no-client"),
    pytest.param(lambda: mint(key=EC_OTHER), "bad_signature", id="foreign-key-known-kid"),
    pytest.param(lambda: mint(alb_header(kid=ROTATED_KID)), "bad_signature", id="kid-of-another-key"),
    pytest.param(lambda: mint(alb_header(kid="00000000-0000-4000-8000-00000000dead"), key=EC_OTHER), "unknown_key", id="foreign-key-unknown-kid"),
    pytest.param(lambda: hs256_with_public_key(), "algorithm_not_allowed", id="hs256-keyed-with-public-key"),
    pytest.param(lambda: alg_none(), "algorithm_not_allowed", id="alg-none"),
    pytest.param(lambda: mint(alb_header(alg="ES384")), "algorithm_not_allowed", id="es384"),
    pytest.param(lambda: mint(alb_header(alg="es256")), "algorithm_not_allowed", id="alg-lower-case"),
    pytest.param(lambda: mint(alb_header(kid="key-1")), "malformed", id="kid-not-a-uuid"),
    pytest.param(lambda: mint(alb_header(kid=f"../{KID}")), "malformed", id="kid-with-path-characters"),
    pytest.param(lambda: mint(alb_header(kid=f"{KID}?x=1")), "malformed", id="kid-with-query"),
    pytest.param(lambda: mint(alb_header(kid=f"{KID}\n")), "malformed", id="kid-with-line-break"),
    pytest.param(lambda: mint(alb_header(kid=None)), "malformed", id="no-kid"),
    pytest.param(lambda: mint(alb_header(crit=["exp"])), "unsupported", id="crit"),
    pytest.param(lambda: tampered(), "bad_signature", id="tampered-payload"),
    pytest.param(lambda: padding_stripped(), "bad_signature", id="padding-stripped"),
    pytest.param(lambda: overpadded(), "malformed", id="too-much-padding"),
    pytest.param(lambda: padding_inside(), "malformed", id="padding-in-the-wrong-place"),
    pytest.param(lambda: standard_alphabet(), "malformed", id="standard-base64-alphabet"),
    pytest.param(lambda: mint()[:-4], "bad_signature", id="signature-cut"),
    pytest.param(lambda: mint().rsplit(".", 1)[0] + ".", "bad_signature", id="signature-empty"),
    pytest.param(lambda: mint(alb_header(), alb_claims(sub=None)), "incomplete_claims", id="no-sub"),
    pytest.param(lambda: "not.a-jwt", "malformed", id="not-a-jwt"),
    pytest.param(lambda: "e30=.e30=.%%%", "malformed", id="garbage"),
    pytest.param(lambda: "x" * 20000, "too_large", id="too-large"),
]  # fmt: skip


def verdict_of(make: Callable[[], str], source: Source) -> tuple[str, str | None]:
    try:
        assertion = source.verify(view(make()), NOW)
    except VerificationError as exc:
        return (exc.code, None)
    return ("ok", assertion.subject)


def expected(code: str) -> tuple[str, str | None]:
    return (code, SUBJECT if code == "ok" else None)


@pytest.fixture(scope="module")
def source(shared_server: KeyServer) -> Source:
    return build_source(table(shared_server, **EAGER))


@pytest.mark.parametrize(("make", "code"), CASES)
def test_source(source: Source, make: Callable[[], str], code: str) -> None:
    assert verdict_of(make, source) == expected(code)


@pytest.mark.parametrize(("make", "code"), CASES)
def test_source_without_token_cache(
    shared_server: KeyServer, make: Callable[[], str], code: str
) -> None:
    uncached = build_source(table(shared_server, cache_size=0, **EAGER))
    assert verdict_of(make, uncached) == expected(code)
    # A second look (keys cached now, a rejected token never cached) says the same.
    assert verdict_of(make, uncached) == expected(code)


def app_mapping(settings: dict[str, Any]) -> dict[str, object]:
    return config_mapping(sources=[settings])


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    identity = environ["edgeclaims.identity"]
    seen = sorted(k for k in environ if k.startswith("HTTP_X_AMZN"))
    start_response("200 OK", [("Content-Type", "application/json")])
    body = {"sub": identity.subject, "source": identity.source, "seen": seen}
    return [json.dumps(body).encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    identity = scope["edgeclaims.identity"]
    seen = sorted(n.decode() for n, _ in scope["headers"] if n.startswith((b"x-amzn", b"x_amzn")))
    body = json.dumps({"sub": identity.subject, "source": identity.source, "seen": seen})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body.encode()})


@pytest.fixture(scope="module")
def wsgi(shared_server: KeyServer) -> WSGIMiddleware:
    return WSGIMiddleware(wsgi_app, app_mapping(table(shared_server, **EAGER)), clock=lambda: NOW)


@pytest.fixture(scope="module")
def asgi(shared_server: KeyServer) -> ASGIMiddleware:
    return ASGIMiddleware(asgi_app, app_mapping(table(shared_server, **EAGER)), clock=lambda: NOW)


def call_wsgi(middleware: WSGIMiddleware, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    statuses: list[str] = []
    environ = build_wsgi_environ("GET", URL, headers)
    body = b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
    return int(statuses[0].split()[0]), json.loads(body)


def call_asgi(middleware: ASGIMiddleware, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(build_asgi_scope("GET", URL, headers), receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def verdict(status: int, body: dict[str, Any]) -> tuple[str, str | None]:
    return ("ok", body["sub"]) if status == 200 else (body["code"], None)


@pytest.mark.parametrize(("make", "code"), CASES)
def test_wsgi(wsgi: WSGIMiddleware, make: Callable[[], str], code: str) -> None:
    status, body = call_wsgi(wsgi, {HEADER: make(), **UNSIGNED})
    assert verdict(status, body) == expected(code)
    if status == 200:
        assert body["source"] == "aws-alb"
        assert body["seen"] == []  # the signed header and both unsigned ones are gone


@pytest.mark.parametrize(("make", "code"), CASES)
def test_asgi(asgi: ASGIMiddleware, make: Callable[[], str], code: str) -> None:
    status, body = call_asgi(asgi, {HEADER: make(), **UNSIGNED})
    assert verdict(status, body) == expected(code)
    if status == 200:
        assert body["seen"] == []


@pytest.fixture(scope="module")
def flask_client(shared_server: KeyServer) -> Any:
    flask = pytest.importorskip("flask")
    from edgeclaims.contrib.flask import EdgeClaims, current_identity

    app = flask.Flask(__name__)
    app.config["EDGECLAIMS"] = app_mapping(table(shared_server, **EAGER))
    EdgeClaims(app, clock=lambda: NOW)

    @app.get("/api/orders")
    def orders() -> Any:
        seen = sorted(k for k, _ in flask.request.headers if k.lower().startswith("x-amzn"))
        return {"sub": current_identity.subject, "source": current_identity.source, "seen": seen}

    return app.test_client()


@pytest.mark.parametrize(("make", "code"), CASES)
def test_flask(flask_client: Any, make: Callable[[], str], code: str) -> None:
    response = flask_client.get(
        "/api/orders", base_url="https://app.example.com", headers={HEADER: make(), **UNSIGNED}
    )
    assert verdict(response.status_code, response.get_json()) == expected(code)
    if response.status_code == 200:
        assert response.get_json()["seen"] == []


def test_unsigned_headers_alone_are_no_identity(wsgi: WSGIMiddleware) -> None:
    status, body = call_wsgi(wsgi, UNSIGNED)
    assert (status, body["code"]) == (401, "missing")


# -- the reference vector ---------------------------------------------------------------------


def test_providers_vector_padded_token_verifies_and_fails_unpadded() -> None:
    entry = json.loads(VECTORS.read_text(encoding="utf-8"))["aws_alb_padded_es256"]
    public_key = load_pem_public_key(entry["public_key_pem"].encode())
    token = entry["token"]
    assert token.count("=") >= 2
    jws = parse_alb_token(token)
    assert signature_verifies(jws, public_key)
    assert json.loads(jws.payload()) == {"hello": "world"}
    stripped = parse_alb_token(unpadded(token))
    assert stripped.signature == jws.signature
    assert not signature_verifies(stripped, public_key)


# -- keys: fetching, caching, limits ------------------------------------------------------------


def test_keys_are_fetched_once_per_kid_from_the_configured_base(key_server: KeyServer) -> None:
    source = build_source(table(key_server, cache_size=0))
    for _ in range(5):
        assert verdict_of(mint, source) == expected("ok")
    assert key_server.requests == [f"/keys/{KID}"]


@pytest.mark.parametrize(
    "kid",
    [
        pytest.param("../../../etc/passwd", id="dot-dot"),
        pytest.param("%2e%2e%2f", id="percent-encoded"),
        pytest.param(f"{KID}/../../admin", id="uuid-then-path"),
        pytest.param(f"{KID}#x", id="fragment"),
        pytest.param("http://evil.example/key", id="url"),
        pytest.param(KID.replace("-", ""), id="uuid-without-dashes"),
        pytest.param(f" {KID}", id="leading-space"),
        pytest.param(7, id="a-number"),
        pytest.param("", id="empty"),
    ],
)
def test_a_kid_that_is_not_a_uuid_is_malformed_and_fetches_nothing(
    key_server: KeyServer, kid: object
) -> None:
    source = build_source(table(key_server))
    assert verdict_of(lambda: mint(alb_header(kid=kid)), source) == ("malformed", None)
    assert key_server.requests == []


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda: mint(alb_header(signer=OTHER_ARN)), "bad_issuer", id="other-signer"),
        pytest.param(alg_none, "algorithm_not_allowed", id="alg-none"),
        pytest.param(hs256_with_public_key, "algorithm_not_allowed", id="hs256"),
    ],
)
def test_refused_headers_fetch_nothing(
    key_server: KeyServer, make: Callable[[], str], code: str
) -> None:
    source = build_source(table(key_server))
    assert verdict_of(make, source) == (code, None)
    assert key_server.requests == []


def test_a_flood_of_unknown_kids_costs_one_fetch_per_interval(key_server: KeyServer) -> None:
    now = [1000.0]
    client = PEMKeyClient(key_server.base_url, min_refetch_interval=60.0, clock=lambda: now[0])
    source = ALBSource(name="aws-alb", signer_arn=ARN, keys=client, cache_size=0)
    for _ in range(200):
        token = mint(alb_header(kid=str(uuid.uuid4())), key=EC_OTHER)
        assert verdict_of(lambda t=token: t, source) == ("unknown_key", None)
    assert len(key_server.requests) == 1
    # The real kid, not yet cached, waits for the interval like any other...
    assert verdict_of(mint, source) == ("unknown_key", None)
    assert len(key_server.requests) == 1
    now[0] += 60.0
    # ...then is fetched, once, and kept.
    assert verdict_of(mint, source) == expected("ok")
    assert key_server.requests[-1] == f"/keys/{KID}"
    assert len(key_server.requests) == 2
    for _ in range(50):
        assert verdict_of(lambda: mint(alb_header(kid=str(uuid.uuid4()))), source)[0] == (
            "unknown_key"
        )
        assert verdict_of(mint, source) == expected("ok")
    assert len(key_server.requests) == 2


def test_a_kid_the_endpoint_lacks_is_remembered(key_server: KeyServer) -> None:
    now = [1000.0]
    client = PEMKeyClient(key_server.base_url, min_refetch_interval=60.0, clock=lambda: now[0])
    source = ALBSource(name="aws-alb", signer_arn=ARN, keys=client, cache_size=0)
    missing = "00000000-0000-4000-8000-00000000beef"
    assert verdict_of(mint, source) == expected("ok")  # a key is cached
    now[0] += 60.0
    make = lambda: mint(alb_header(kid=missing))  # noqa: E731
    assert verdict_of(make, source) == ("unknown_key", None)
    assert key_server.requests == [f"/keys/{KID}", f"/keys/{missing}"]
    now[0] += 59.0
    assert verdict_of(make, source) == ("unknown_key", None)
    assert len(key_server.requests) == 2


def test_concurrent_requests_for_a_new_kid_share_one_fetch() -> None:
    server = KeyServer(alb_documents(), delay=0.3)
    try:
        source = build_source(table(server, cache_size=0))
        results: list[tuple[str, str | None]] = []
        threads = [
            threading.Thread(target=lambda: results.append(verdict_of(mint, source)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert results == [expected("ok")] * 8
        assert server.requests == [f"/keys/{KID}"]
    finally:
        server.stop()


def test_concurrent_unknown_kids_waiting_for_a_fetch_do_not_fetch_after_it() -> None:
    server = KeyServer(alb_documents(), delay=0.3)
    try:
        source = build_source(table(server, cache_size=0))
        results: list[tuple[str, str | None]] = []
        tokens = [mint(alb_header(kid=str(uuid.uuid4())), key=EC_OTHER) for _ in range(8)]
        threads = [
            threading.Thread(target=lambda t=token: results.append(verdict_of(lambda: t, source)))
            for token in tokens
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert results == [("unknown_key", None)] * 8
        assert len(server.requests) == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("kid", "code"),
    [
        pytest.param("00000000-0000-4000-8000-000000000404", "unknown_key", id="404"),
        pytest.param("00000000-0000-4000-8000-000000000001", "unknown_key", id="rsa-key"),
        pytest.param("00000000-0000-4000-8000-000000000002", "unknown_key", id="not-pem"),
        pytest.param("00000000-0000-4000-8000-000000000003", "unknown_key", id="two-keys"),
    ],
)
def test_what_the_endpoint_answers(key_server: KeyServer, kid: str, code: str) -> None:
    source = build_source(table(key_server))
    assert verdict_of(lambda: mint(alb_header(kid=kid)), source) == (code, None)
    assert key_server.requests == [f"/keys/{kid}"]


def test_a_redirect_is_not_followed(key_server: KeyServer) -> None:
    client = PEMKeyClient(key_server.base_url)
    with pytest.raises(VerificationError) as caught:
        client.key_for("redirect")
    assert caught.value.code == "key_source_unavailable"
    assert key_server.requests == ["/keys/redirect"]


def test_key_server_down_is_503_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    settings = table(closed_port_url(), timeout=0.5)
    token = mint()
    source = build_source(settings)
    with pytest.raises(VerificationError) as caught:
        source.verify(view(token), NOW)
    assert (caught.value.code, caught.value.status) == ("key_source_unavailable", 503)
    wsgi = WSGIMiddleware(wsgi_app, app_mapping(settings), clock=lambda: NOW)
    status, body = call_wsgi(wsgi, {HEADER: token})
    assert (status, body["code"]) == (503, "key_source_unavailable")
    asgi = ASGIMiddleware(asgi_app, app_mapping(settings), clock=lambda: NOW)
    status, body = call_asgi(asgi, {HEADER: token})
    assert (status, body["code"]) == (503, "key_source_unavailable")
    assert token not in caplog.text


def test_an_endpoint_failing_at_start_up_is_retried_within_seconds(key_server: KeyServer) -> None:
    now = [1000.0]
    client = PEMKeyClient(key_server.base_url, min_refetch_interval=60.0, clock=lambda: now[0])
    source = ALBSource(name="aws-alb", signer_arn=ARN, keys=client, cache_size=0)
    key_server.failing = True
    assert verdict_of(mint, source) == ("key_source_unavailable", None)
    now[0] += 4.0
    assert verdict_of(mint, source) == ("key_source_unavailable", None)
    assert len(key_server.requests) == 1
    key_server.failing = False
    now[0] += 1.0
    assert verdict_of(mint, source) == expected("ok")
    assert len(key_server.requests) == 2
    # With a key cached, an outage no longer shortens the interval.
    key_server.failing = True
    now[0] += 60.0
    new_kid = lambda: mint(alb_header(kid=ROTATED_KID))  # noqa: E731
    assert verdict_of(new_kid, source) == ("key_source_unavailable", None)
    now[0] += 30.0
    assert verdict_of(new_kid, source) == ("key_source_unavailable", None)
    assert verdict_of(mint, source) == expected("ok")
    assert len(key_server.requests) == 3


def test_a_known_key_outlives_a_key_server_outage() -> None:
    server = KeyServer(alb_documents())
    source = build_source(table(server, cache_size=0))
    assert verdict_of(mint, source) == expected("ok")
    server.stop()
    assert verdict_of(mint, source) == expected("ok")
    assert verdict_of(lambda: mint(key=EC_OTHER), source) == ("bad_signature", None)


def test_asgi_fetches_without_blocking_the_event_loop() -> None:
    server = KeyServer(alb_documents(), delay=0.3)  # a slow key endpoint
    try:
        source = build_source(table(server, cache_size=0))
        assert isinstance(source, ALBSource)

        async def main() -> tuple[int, tuple[str, str | None]]:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            await source.aprepare(view(mint()))
            task.cancel()
            return ticks, verdict_of(mint, source)

        ticks, got = asyncio.run(main())
        assert got == expected("ok")
        assert ticks >= 5  # the loop kept running while the key was fetched
        assert server.requests == [f"/keys/{KID}"]
    finally:
        server.stop()


def test_verify_on_the_loop_without_aprepare_never_blocks(key_server: KeyServer) -> None:
    source = build_source(table(key_server, cache_size=0))

    async def main() -> tuple[str, str | None]:
        return verdict_of(mint, source)

    assert asyncio.run(main()) == ("key_source_unavailable", None)
    deadline = time.monotonic() + 5
    while not key_server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert verdict_of(mint, source) == expected("ok")
    assert key_server.requests == [f"/keys/{KID}"]


# -- errors, hints and logs -------------------------------------------------------------------


def refusal(source: Source, token: str) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        source.verify(view(token), NOW)
    return caught.value


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: mint(alb_header(signer=OTHER_ARN)), id="signer"),
        pytest.param(lambda: mint(alb_header(iss="https://evil.example")), id="issuer"),
        pytest.param(lambda: mint(alb_header(client="x")), id="client"),
        pytest.param(tampered, id="tampered"),
        pytest.param(padding_stripped, id="stripped"),
        pytest.param(lambda: mint(alb_header(kid="../x")), id="kid"),
        pytest.param(lambda: mint(alb_header(exp=NOW - 100)), id="expired"),
    ],
)
def test_refusals_never_carry_the_token(source: Source, make: Callable[[], str]) -> None:
    token = make()
    error = refusal(source, token)
    for part in (token, *token.split(".")):
        assert part not in error.detail
        assert part not in repr(error)
    assert "alice@example.com" not in error.detail


def test_mismatches_say_what_was_expected_and_seen(source: Source) -> None:
    error = refusal(source, mint(alb_header(iss="https://evil.example\r\n")))
    assert error.detail == (
        "expected issuer 'https://idp.example.com', the token's iss is 'https://evil.example\\r\\n'"
    )
    error = refusal(source, mint(alb_header(client="web-client")))
    assert (error.code, error.detail) == (
        "bad_audience",
        f"expected client_id '{CLIENT}', the token's client is 'web-client'",
    )
    error = refusal(source, mint(alb_header(signer=OTHER_ARN)))
    assert error.detail == "the token's signer is not the configured signer_arn"


def test_hints_name_the_setting(source: Source) -> None:
    hint = source.refusal_hint("bad_issuer")
    assert hint is not None
    assert "signer_arn must be the load balancer's ARN (EC2 → Load Balancers" in hint
    assert "client_id" in (source.refusal_hint("bad_audience") or "")
    assert "ES256" in (source.refusal_hint("algorithm_not_allowed") or "")
    assert source.refusal_hint("replayed") is None


def test_the_decision_log_holds_the_subject_and_no_other_claim(
    wsgi: WSGIMiddleware, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint()
    with caplog.at_level(logging.INFO, logger="edgeclaims"):
        status, _ = call_wsgi(wsgi, {HEADER: token, **UNSIGNED})
        refused, body = call_wsgi(wsgi, {HEADER: tampered()})
    assert (status, refused, body["code"]) == (200, 401, "bad_signature")
    assert f"subject={SUBJECT}" in caplog.text
    for secret in (token, token.split(".")[1], "alice@example.com", "mallory", "forged"):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("make", "code", "shown"),
    [
        pytest.param(lambda: mint(alb_header(signer=OTHER_ARN)), "bad_issuer", "signer_arn must be the load balancer's ARN", id="wrong-signer"),
        pytest.param(lambda: mint(alb_header(client="web")), "bad_audience", "client_id must be", id="wrong-client"),
        pytest.param(padding_stripped, "bad_signature", "", id="padding-stripped"),
        pytest.param(lambda: mint(), "ok", "", id="accepted"),
    ],
)  # fmt: skip
def test_cli_verify_explains(
    shared_server: KeyServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[], str],
    code: str,
    shown: str,
) -> None:
    from edgeclaims import cli

    config = tmp_path / "edgeclaims.toml"
    config.write_text(
        "[edgeclaims]\n\n[[edgeclaims.sources]]\n"
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table(shared_server).items()),
        encoding="utf-8",
    )
    token = make()
    argv = ["verify", "--config", str(config), "--url", URL, "--now", str(NOW)]
    status = cli.main([*argv, "-H", f"{HEADER}: {token}"])
    out = capsys.readouterr().out
    hints = [line for line in out.splitlines() if line.strip().startswith("hint:")]
    if code == "ok":
        assert status == 0
        assert f"verdict: accepted — subject '{SUBJECT}' via aws-alb" in out
        assert "✓ signature: verifies over the segments as received" in out
        assert not hints
    else:
        assert status == 1
        assert f"✗ {code}: " in out
        assert (shown in hints[0]) if shown else not hints
    assert token.split(".")[1] not in out
    assert token.split(".")[2] not in out


def test_claims_are_the_payload(source: Source) -> None:
    assertion = source.verify(view(mint()), NOW)
    assert assertion.claims["email"] == "alice@example.com"
    assert assertion.key_id == KID
    assert assertion.subject == SUBJECT


def test_issuer_and_client_are_optional(shared_server: KeyServer) -> None:
    lax = build_source(table(shared_server, issuer="", client_id=""))
    token = mint(alb_header(iss="https://other-idp.example", client="other"))
    assert verdict_of(lambda: token, lax) == expected("ok")
    assert verdict_of(lambda: mint(alb_header(signer=OTHER_ARN)), lax) == ("bad_issuer", None)


def test_a_repeated_header_is_ambiguous(source: Source) -> None:
    token = mint()
    assert verdict_of(lambda: f"{token}, {token}", source) == ("ambiguous", None)


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        pytest.param({"signer_arn": None}, "signer_arn", id="signer-missing"),
        pytest.param({"signer_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/50dc6c495c0c9188"}, "signer_arn", id="target-group-arn"),
        pytest.param({"signer_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"}, "signer_arn", id="listener-arn"),
        pytest.param({"signer_arn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/web/50dc6c495c0c9188"}, "signer_arn", id="network-load-balancer"),
        pytest.param({"signer_arn": "web"}, "signer_arn", id="a-name"),
        pytest.param({"key_base_url": "http://keys.example.com"}, "key_base_url", id="plain-http"),
        pytest.param({"key_base_url": "https://keys.example.com/?x={region}"}, "key_base_url", id="query"),
        pytest.param({"key_base_url": "https://{partition}.example.com"}, "key_base_url", id="unknown-placeholder"),
        pytest.param({"leeway": -1}, "leeway", id="negative-leeway"),
        pytest.param({"timeout": 0}, "timeout", id="zero-timeout"),
        pytest.param({"issuer": 5}, "issuer", id="issuer-a-number"),
        pytest.param({"max_stale": 10}, "max_stale", id="unknown-setting"),
    ],
)  # fmt: skip
def test_configuration_errors_name_the_setting(overrides: dict[str, Any], key: str) -> None:
    settings = {
        k: v for k, v in {**table("https://keys.example.com"), **overrides}.items() if v is not None
    }
    with pytest.raises(ConfigurationError) as caught:
        build_source(settings)
    assert caught.value.path.endswith(key)


@pytest.mark.parametrize(
    ("arn", "url"),
    [
        pytest.param(ARN, "https://public-keys.auth.elb.eu-west-1.amazonaws.com", id="aws"),
        pytest.param(ARN.replace("eu-west-1", "ap-southeast-2"), "https://public-keys.auth.elb.ap-southeast-2.amazonaws.com", id="another-region"),
        pytest.param(ARN.replace("aws:", "aws-us-gov:").replace("eu-west-1", "us-gov-west-1"), "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1", id="govcloud"),
    ],
)  # fmt: skip
def test_the_key_url_comes_from_the_arn_region(arn: str, url: str) -> None:
    settings = {"type": "aws-alb", "signer_arn": arn}
    source = build_source(settings)
    assert isinstance(source, ALBSource)
    assert source.keys.base_url == url


def test_a_partition_without_a_known_key_url_needs_key_base_url() -> None:
    arn = ARN.replace("aws:", "aws-cn:").replace("eu-west-1", "cn-north-1")
    with pytest.raises(ConfigurationError, match="key_base_url"):
        build_source({"type": "aws-alb", "signer_arn": arn})
    source = build_source(
        {
            "type": "aws-alb",
            "signer_arn": arn,
            "key_base_url": "https://public-keys.auth.elb.{region}.amazonaws.com.cn/",
        }
    )
    assert isinstance(source, ALBSource)
    assert source.keys.base_url == "https://public-keys.auth.elb.cn-north-1.amazonaws.com.cn"


def test_stripped_and_trigger_headers(source: Source) -> None:
    assert source.trigger_headers == (HEADER,)
    assert set(source.stripped_headers) == {HEADER, *UNSIGNED}


# -- edgeclaims.testing.ProviderTokens ---------------------------------------------------------


def test_provider_tokens_mint_alb_tokens_for_users_tests() -> None:
    with ProviderTokens.serving(clock=lambda: NOW) as tokens:
        settings = {"type": "aws-alb", "signer_arn": ARN, "key_base_url": tokens.alb_key_base_url}
        source = build_source(settings)
        headers = tokens.aws_alb(ARN, email="bob@example.com")
        (token,) = headers.values()
        assert set(headers) == {HEADER}
        assert token.split(".")[0].endswith("=") or token.split(".")[2].endswith("=")
        assertion = source.verify(view(token), NOW)
        assert assertion.claims["email"] == "bob@example.com"
        other = tokens.aws_alb(OTHER_ARN)[HEADER]
        assert verdict_of(lambda: other, source) == ("bad_issuer", None)
        unknown = tokens.aws_alb(ARN, kid=str(uuid.uuid4()))[HEADER]
        assert verdict_of(lambda: unknown, source) == ("unknown_key", None)
        assert tokens.alb_public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")
