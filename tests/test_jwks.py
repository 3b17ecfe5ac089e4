"""JWK Set parsing and hygiene, JWKS files, and the JWKS URL client against a real HTTP server.

The server is ``http.server.ThreadingHTTPServer`` on 127.0.0.1, started by the
test in a thread, counting the requests it answers; ``RawServer`` is a plain
socket server for answers http.server will not send (not HTTP, a broken
chunked body, too many headers, a body cut short). Time is an injected clock
(``FakeClock``): no test sleeps through an interval.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from loop_support import loop_ticks_while
from tables import config_mapping
from test_jws import (
    EC384_PRIVATE,
    EC_OTHER,
    EC_PRIVATE,
    ED_PRIVATE,
    NOW,
    RSA_PRIVATE,
    build,
    claims,
    view,
)
from test_jws import config as jws_config

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.errors import (
    ConfigurationError,
    KeySourceUnavailable,
    UnknownKey,
    VerificationError,
)
from edgeclaims.jose import sign_jws
from edgeclaims.jwks import (
    JWKSError,
    StaticKeySet,
    jwks_document,
    load_jwks_file,
    parse_jwks,
    roca_vulnerable,
)
from edgeclaims.jwks_client import JWKSClient, check_jwks_url
from edgeclaims.sources.jws import JWSSource
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

# -- helpers ------------------------------------------------------------------------


def ec_jwk(private: Any = EC_PRIVATE, **members: Any) -> dict[str, Any]:
    jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "ec-1", "alg": "ES256", "use": "sig"})
    jwk.update(members)
    return {name: value for name, value in jwk.items() if value is not None}


def rsa_jwk(private: Any = RSA_PRIVATE, **members: Any) -> dict[str, Any]:
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "rsa-1", "alg": "RS256"})
    jwk.update(members)
    return {name: value for name, value in jwk.items() if value is not None}


def oct_jwk(secret: bytes, **members: Any) -> dict[str, Any]:
    jwk = {"kty": "oct", "k": _b64(secret), "kid": "hs-1", "alg": "HS256"}
    jwk.update(members)
    return {name: value for name, value in jwk.items() if value is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeClock:
    """Monotonic seconds that only move when the test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JWKSServer:
    """A real HTTP server serving a JWK Set; counts requests; can misbehave or go down."""

    def __init__(self) -> None:
        self.document: object = {"keys": [ec_jwk()]}
        self.raw: bytes | None = None
        self.status = 200
        self.headers: dict[str, str] = {"Cache-Control": "public, max-age=300"}
        self.delay = 0.0
        self.requests = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    server.paths.append(self.path)
                if server.delay:
                    time.sleep(server.delay)
                body = (
                    server.raw if server.raw is not None else json.dumps(server.document).encode()
                )
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(5)


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    jwks = JWKSServer()
    try:
        yield jwks
    finally:
        jwks.stop()


class RawServer:
    """A socket server on 127.0.0.1: reads a request's head, answers ``answer`` verbatim, closes.

    For what a broken proxy, a captive portal or something that is not an
    HTTP server sends; ``answer`` may be changed while it runs.
    """

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                received = b""
                self.request.settimeout(5)
                while b"\r\n\r\n" not in received:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    received += chunk
                with server._lock:
                    server.requests += 1
                # The client may hang up mid-answer (it refused the head).
                with contextlib.suppress(OSError):
                    self.request.sendall(server.answer)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.tcp.daemon_threads = True
        self.thread = threading.Thread(
            target=self.tcp.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.tcp.server_address[1]}/.well-known/jwks.json"

    def stop(self) -> None:
        self.tcp.shutdown()
        self.tcp.server_close()
        self.thread.join(5)


def http_answer(body: bytes, *head: str, status: str = "200 OK") -> bytes:
    """An HTTP/1.1 answer with exactly the head lines given."""
    lines = [f"HTTP/1.1 {status}", *head, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


JWKS_BODY = json.dumps({"keys": [ec_jwk()]}).encode()


def good_answer(max_age: int = 300) -> bytes:
    return http_answer(
        JWKS_BODY,
        "Content-Type: application/json",
        f"Content-Length: {len(JWKS_BODY)}",
        f"Cache-Control: max-age={max_age}",
    )


#: Answers that are no JWK Set, most of which http.client refuses with an
#: HTTPException that is not an OSError (issue #11, finding 7).
MISBEHAVIOURS = [
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", id="not-http-at-all"),  # BadStatusLine
    pytest.param(JWKS_BODY, id="body-without-status-line"),  # BadStatusLine
    pytest.param(b"HTTP/1.1 2OO OK\r\n\r\n", id="status-not-a-number"),  # BadStatusLine
    pytest.param(
        http_answer(b"zz\r\n" + JWKS_BODY + b"\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
        id="bad-chunk-size",  # IncompleteRead
    ),
    pytest.param(
        http_answer(b"%x\r\n" % (len(JWKS_BODY) + 100) + JWKS_BODY, "Transfer-Encoding: chunked"),
        id="chunked-body-cut-short",  # IncompleteRead
    ),
    pytest.param(
        http_answer(
            JWKS_BODY,
            *(f"X-Filler-{i}: {i}" for i in range(101)),
            f"Content-Length: {len(JWKS_BODY)}",
        ),
        id="more-than-100-headers",  # HTTPException
    ),
    pytest.param(
        http_answer(JWKS_BODY, "X-Long: " + "a" * 70_000, f"Content-Length: {len(JWKS_BODY)}"),
        id="header-line-too-long",  # LineTooLong
    ),
    pytest.param(b"HTTP/1.1 200 " + b"O" * 70_000 + b"\r\n\r\n", id="status-line-too-long"),
    pytest.param(
        http_answer(JWKS_BODY[:40], f"Content-Length: {len(JWKS_BODY)}"),
        id="body-cut-mid-document",
    ),
    pytest.param(
        http_answer(JWKS_BODY, f"Content-Length: {len(JWKS_BODY) + 64}"),
        id="body-shorter-than-content-length",
    ),
    pytest.param(b"", id="closes-without-answer"),  # RemoteDisconnected (an OSError too)
]


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    raw = RawServer(good_answer())
    try:
        yield raw
    finally:
        raw.stop()


def client(jwks: JWKSServer | RawServer, clock: FakeClock, **options: Any) -> JWKSClient:
    return JWKSClient(jwks.url, clock=clock, timeout=2.0, **options)


# -- parsing and hygiene ------------------------------------------------------------------

SECRET = bytes(range(32))


@pytest.mark.parametrize(
    ("entries", "allow_secrets", "usable", "problem"),
    [
        ([ec_jwk()], False, ["ec-1"], None),
        ([ec_jwk(alg=None)], False, ["ec-1"], None),  # P-256 implies ES256
        ([rsa_jwk(alg=None)], False, ["rsa-1"], None),  # RS256 when nothing is configured
        ([ec_jwk(), ec_jwk(EC_OTHER)], False, [], "shared with another key"),
        ([ec_jwk(), ec_jwk(EC_OTHER, use="enc")], False, ["ec-1"], "use is not 'sig'"),
        ([ec_jwk(use="enc")], False, [], "use is not 'sig'"),
        ([ec_jwk(key_ops=["sign"])], False, [], "key_ops"),
        ([ec_jwk(key_ops="verify")], False, [], "key_ops"),
        ([ec_jwk(key_ops=["verify"])], False, ["ec-1"], None),
        ([ec_jwk(alg="ES384")], False, [], "needs ec-p384"),
        ([ec_jwk(EC384_PRIVATE)], False, [], "needs ec-p256"),
        ([ec_jwk(alg="RS256")], False, [], "cannot serve RS256"),
        ([ec_jwk(alg="none")], False, [], "unsupported or missing alg"),
        ([ec_jwk(alg="ES521")], False, [], "unsupported or missing alg"),
        ([ec_jwk(kid="")], False, [], "kid"),
        ([ec_jwk(kid=7)], False, [], "kid"),
        ([{"kty": "EC", "crv": "P-256"}], False, [], "not a valid JWK"),
        ([{"kid": "x"}], False, [], "no kty"),
        (["not an object"], False, [], "not a JSON object"),
        ([ec_jwk(kid=None)], False, [""], None),
        ([ec_jwk(kid=None), rsa_jwk()], False, ["rsa-1"], "no kid"),
        ([oct_jwk(SECRET)], True, ["hs-1"], None),
        ([oct_jwk(SECRET)], False, [], "never taken from a URL"),
        ([oct_jwk(SECRET[:31])], True, [], "at least 32 bytes"),
        ([oct_jwk(bytes(47), alg="HS384")], True, [], "at least 48 bytes"),
        ([oct_jwk(bytes(64), alg="HS512")], True, ["hs-1"], None),
        ([oct_jwk(SECRET, alg=None)], True, [], "unsupported or missing alg"),
    ],
    ids=[
        "ec",
        "ec-alg-implied",
        "rsa-alg-defaults-rs256",
        "duplicate-kid",
        "duplicate-kid-enc",
        "use-enc",
        "key-ops-sign",
        "key-ops-not-list",
        "key-ops-verify",
        "curve-alg-mismatch",
        "p384-key-as-es256",
        "kty-alg-mismatch",
        "alg-none",
        "alg-unknown",
        "kid-empty",
        "kid-number",
        "missing-coordinates",
        "no-kty",
        "entry-not-object",
        "single-key-no-kid",
        "no-kid-among-several",
        "hmac",
        "hmac-from-url",
        "hmac-short",
        "hs384-short",
        "hs512",
        "hmac-no-alg",
    ],
)
def test_parse_jwks_hygiene(
    entries: list[Any], allow_secrets: bool, usable: list[str], problem: str | None
) -> None:
    key_set = parse_jwks({"keys": entries}, allow_secrets=allow_secrets)
    assert sorted(key_set.keys) == usable
    if problem is None:
        assert key_set.problems == ()
    else:
        assert any(problem in text for text in key_set.problems), key_set.problems


def test_weak_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    key_set = parse_jwks({"keys": [rsa_jwk(small)]})
    assert not key_set.keys
    assert "at least 2048 bits" in key_set.problems[0]


def test_roca_fingerprint() -> None:
    # A modulus built like RSALib's: a product of primes 65537^a mod M (+ k·M).
    primorial = 1
    for prime in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67):
        primorial *= prime
    for prime in (71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139):
        primorial *= prime
    for prime in (149, 151, 157, 163, 167):
        primorial *= prime
    p = 7 * primorial + pow(65537, 1234, primorial)
    q = 11 * primorial + pow(65537, 4321, primorial)
    assert roca_vulnerable(p * q)
    assert not roca_vulnerable(RSA_PRIVATE.public_key().public_numbers().n)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"keys": {}}, "not a JWK Set"),
        ([ec_jwk()], "not a JWK Set"),
        ({"keys": [ec_jwk(d="AAAA")]}, "private key material"),
        ({"keys": [rsa_jwk(p="AAAA")]}, "private key material"),
        ({"keys": [oct_jwk(SECRET), ec_jwk()]}, "mixes shared secrets"),
        ({"keys": [ec_jwk(kid=f"k{i}") for i in range(101)]}, "more than 100"),
    ],
    ids=["keys-not-list", "bare-list", "ec-private", "rsa-private", "mixed", "too-many"],
)
def test_unusable_documents(document: object, message: str) -> None:
    with pytest.raises(JWKSError, match=message):
        parse_jwks(document, allow_secrets=True)


def test_rsa_without_alg_follows_the_configured_algorithms() -> None:
    assert parse_jwks({"keys": [rsa_jwk(alg=None)]}, algorithms={"PS256"}).keys["rsa-1"].alg == (
        "PS256"
    )
    ambiguous = parse_jwks({"keys": [rsa_jwk(alg=None)]}, algorithms={"PS256", "RS256"})
    assert not ambiguous.keys


def test_jwks_file_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [ec_jwk(), ec_jwk(EC_OTHER, kid="ec-2", use="enc")]}))
    with pytest.raises(ConfigurationError, match="use is not 'sig'") as caught:
        load_jwks_file(path, "sources[0].jwks_file")
    assert caught.value.path == "sources[0].jwks_file"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not JSON"):
        load_jwks_file(path, "w")
    path.write_text(json.dumps({"keys": []}))
    with pytest.raises(ConfigurationError, match="no keys"):
        load_jwks_file(path, "w")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_jwks_file(tmp_path / "missing.json", "w")
    path.write_text(json.dumps({"keys": [oct_jwk(SECRET)]}))
    assert load_jwks_file(path, "w")["hs-1"].alg == "HS256"


def test_jwks_document_round_trip() -> None:
    document = jwks_document(
        [
            ("ec-1", "ES256", EC_PRIVATE),
            ("ec-384", "ES384", EC384_PRIVATE.public_key()),
            ("rsa-1", "PS256", RSA_PRIVATE),
            ("ed-1", "EdDSA", ED_PRIVATE),
        ]
    )
    text = json.dumps(document)
    assert '"d"' not in text  # public halves only
    key_set = parse_jwks(json.loads(text))
    assert key_set.problems == ()
    assert {kid: key.alg for kid, key in key_set.keys.items()} == {
        "ec-1": "ES256",
        "ec-384": "ES384",
        "rsa-1": "PS256",
        "ed-1": "EdDSA",
    }
    source = JWSSource(name="j", keys=StaticKeySet(key_set.keys), algorithms=frozenset({"PS256"}))
    token = sign_jws(claims(aud=None), "rsa-1", "PS256", RSA_PRIVATE)
    assert source.verify(view(token), NOW).key_id == "rsa-1"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("h", "HS256", SECRET)], "shared secret"),
        ([("e", "ES384", EC_PRIVATE)], "needs ec-p384"),
        ([("e", "HS256", EC_PRIVATE)], "the key is ec-p256"),
        ([("e", "none", EC_PRIVATE)], "unsupported"),
        ([("e", "ES256", EC_PRIVATE), ("e", "EdDSA", ED_PRIVATE)], "share a kid"),
        ([("h", "ES256", SECRET)], "not a secret"),
    ],
    ids=["secret", "curve", "ec-as-hmac", "none", "duplicate", "secret-as-ec"],
)
def test_jwks_document_refusals(entries: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jwks_document(entries)


def test_jwks_document_with_secrets_on_request() -> None:
    document = jwks_document([("h", "HS256", SECRET)], include_secrets=True)
    assert parse_jwks(document, allow_secrets=True).keys["h"].material == SECRET


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://edge.example.com/.well-known/jwks.json", True),
        ("http://127.0.0.1:8080/jwks", True),
        ("http://localhost/jwks", True),
        ("http://[::1]:9000/jwks", True),
        ("http://edge.example.com/jwks", False),
        ("http://10.0.0.1/jwks", False),
        ("ftp://edge.example.com/jwks", False),
        ("file:///etc/jwks.json", False),
        ("https:///jwks", False),
        ("https://edge.example.com:port/jwks", False),  # urllib: InvalidURL on every fetch
        ("https://[::1/jwks", False),  # urlsplit: ValueError
    ],
)
def test_jwks_url_is_https_or_loopback(url: str, accepted: bool) -> None:
    if accepted:
        assert check_jwks_url(url, "jwks_url") == url
    else:
        with pytest.raises(ConfigurationError):
            check_jwks_url(url, "jwks_url")


# -- the URL client against a real server -------------------------------------------------


def test_fetches_once_then_serves_from_cache(server: JWKSServer) -> None:
    clock = FakeClock()
    jwks = client(server, clock)
    assert jwks.key_for("ec-1").alg == "ES256"
    for _ in range(100):
        jwks.key_for("ec-1")
        clock.advance(1)
    assert server.requests == 1  # max-age=300 not yet reached
    clock.advance(201)
    jwks.key_for("ec-1")
    assert server.requests == 2


def test_rotation_picks_up_a_new_kid_without_restart(server: JWKSServer) -> None:
    clock = FakeClock()
    jwks = client(server, clock)
    jwks.key_for("ec-1")
    server.document = {"keys": [ec_jwk(), ec_jwk(EC_OTHER, kid="ec-2")]}
    clock.advance(10)
    with pytest.raises(UnknownKey):
        jwks.key_for("ec-2")  # within min_refetch_interval: no refetch yet
    assert server.requests == 1
    clock.advance(51)
    assert jwks.key_for("ec-2").id == "ec-2"
    assert server.requests == 2
    # The old key leaves the set at the next rotation.
    server.document = {"keys": [ec_jwk(EC_OTHER, kid="ec-2")]}
    clock.advance(300)
    with pytest.raises(UnknownKey):
        jwks.key_for("ec-1")
    assert server.requests == 3


def test_random_unknown_kids_cause_at_most_one_fetch_per_interval(server: JWKSServer) -> None:
    clock = FakeClock()
    jwks = client(server, clock, min_refetch_interval=60)
    jwks.key_for("ec-1")
    refused = 0
    for index in range(1000):
        clock.advance(0.25)  # 1,000 requests over 250 seconds
        try:
            jwks.key_for(f"random-{index}-{index * 7919 % 1000}")
        except UnknownKey:
            refused += 1
    assert refused == 1000
    # The first fetch, then one per 60 s interval at most: t = 60, 120, 180, 240.
    assert server.requests <= 1 + 250 // 60
    assert server.requests >= 2  # and the refetch does happen


def test_negative_cache_is_bounded(server: JWKSServer) -> None:
    clock = FakeClock()
    jwks = client(server, clock, negative_cache_size=10)
    jwks.key_for("ec-1")
    for index in range(50):
        with pytest.raises(UnknownKey):
            jwks.key_for(f"unknown-{index}")
    assert len(jwks._unknown) == 10


def test_endpoint_down_serves_stale_keys_for_max_stale_then_503(server: JWKSServer) -> None:
    clock = FakeClock()
    server.headers["Cache-Control"] = "max-age=120"
    jwks = client(server, clock, max_stale=300)
    key = jwks.key_for("ec-1")
    server.stop()
    clock.advance(130)  # past max-age: a refresh is tried, fails, stale key served
    assert jwks.key_for("ec-1") is key
    clock.advance(270)  # 400 s: still within 120 + 300
    assert jwks.key_for("ec-1") is key
    clock.advance(21)  # 421 s: past max_stale
    with pytest.raises(KeySourceUnavailable) as caught:
        jwks.key_for("ec-1")
    assert caught.value.code == "key_source_unavailable"
    assert caught.value.status == 503


@pytest.mark.parametrize(
    ("raw", "document", "status"),
    [
        (b"<html>oops</html>", None, 200),
        (None, {"keys": []}, 200),
        (None, {"keys": [ec_jwk(d="AAAA")]}, 200),
        (None, {"keys": [ec_jwk(use="enc")]}, 200),
        (None, {"error": "maintenance"}, 200),
        (None, {"keys": [ec_jwk()]}, 500),
        (b"x" * 300_000, None, 200),
        (b"[" * 100_000, None, 200),
    ],
    ids=[
        "html",
        "empty-set",
        "private-key",
        "no-usable-key",
        "not-a-set",
        "http-500",
        "too-big",
        "deeply-nested",
    ],
)
def test_garbage_keeps_the_last_good_keys(
    server: JWKSServer, raw: bytes | None, document: object, status: int
) -> None:
    clock = FakeClock()
    jwks = client(server, clock)
    key = jwks.key_for("ec-1")
    server.raw, server.status = raw, status
    if document is not None:
        server.document = document
    clock.advance(301)
    assert jwks.key_for("ec-1") is key
    assert server.requests == 2
    # Back to normal with a rotated key: installed at the next allowed fetch.
    server.raw, server.status = None, 200
    server.document = {"keys": [ec_jwk(EC_OTHER)]}
    clock.advance(61)
    assert jwks.key_for("ec-1") is not key


def test_cold_cache_with_endpoint_down_is_503_and_retried_sparingly(server: JWKSServer) -> None:
    clock = FakeClock()
    server.status = 503
    jwks = client(server, clock)
    for _ in range(20):
        with pytest.raises(KeySourceUnavailable):
            jwks.key_for("ec-1")
        clock.advance(0.1)
    assert server.requests == 1
    clock.advance(5)
    server.status = 200
    assert jwks.key_for("ec-1").id == "ec-1"
    assert server.requests == 2


def test_cache_control_is_clamped(server: JWKSServer) -> None:
    clock = FakeClock()
    server.headers["Cache-Control"] = "max-age=5"
    jwks = client(server, clock, cache_ttl_min=60, cache_ttl_max=600)
    jwks.key_for("ec-1")
    clock.advance(59)
    jwks.key_for("ec-1")
    assert server.requests == 1  # 5 s raised to cache_ttl_min
    server.headers["Cache-Control"] = "max-age=999999"
    clock.advance(2)
    jwks.key_for("ec-1")
    assert server.requests == 2
    clock.advance(599)
    jwks.key_for("ec-1")
    assert server.requests == 2
    clock.advance(2)  # capped at cache_ttl_max
    jwks.key_for("ec-1")
    assert server.requests == 3


def test_no_store_means_the_minimum_ttl(server: JWKSServer) -> None:
    clock = FakeClock()
    server.headers["Cache-Control"] = "no-store"
    jwks = client(server, clock, cache_ttl_min=60)
    jwks.key_for("ec-1")
    clock.advance(61)
    jwks.key_for("ec-1")
    assert server.requests == 2


def test_redirects_are_not_followed(server: JWKSServer) -> None:
    server.status = 302
    server.headers["Location"] = "http://127.0.0.1:9/elsewhere"
    with pytest.raises(KeySourceUnavailable):
        client(server, FakeClock()).key_for("ec-1")
    assert server.requests == 1


def test_fifty_threads_with_a_cold_cache_cause_one_fetch(server: JWKSServer) -> None:
    server.delay = 0.2  # the fetch is in flight while the other threads arrive
    jwks = client(server, FakeClock())
    barrier = threading.Barrier(50)
    results: list[object] = []
    lock = threading.Lock()

    def request() -> None:
        barrier.wait()
        try:
            outcome: object = jwks.key_for("ec-1").id
        except VerificationError as exc:
            outcome = exc.code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=request) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == ["ec-1"] * 50
    assert server.requests == 1


def test_prefetch_at_start_up(server: JWKSServer) -> None:
    source = build(keys=None, jwks_url=server.url, prefetch=True)
    assert server.requests == 1
    assert source.verify(view(_es256_token()), NOW).key_id == "ec-1"
    assert server.requests == 1


def test_prefetch_failure_is_logged_not_fatal(
    server: JWKSServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.status = 500
    with caplog.at_level("WARNING", logger="edgeclaims"):
        build(keys=None, jwks_url=server.url, prefetch=True)
    assert "prefetching" in caplog.text
    assert server.url.split("//")[1].split("/")[0] in caplog.text


def _es256_token(**headers: Any) -> str:
    return sign_jws(claims(), "ec-1", "ES256", EC_PRIVATE, headers)


def test_source_with_jwks_url_ignores_jku(server: JWKSServer) -> None:
    elsewhere = JWKSServer()
    try:
        elsewhere.document = {"keys": [ec_jwk(EC_OTHER)]}
        source = build(keys=None, jwks_url=server.url)
        forged = sign_jws(claims(), "ec-1", "ES256", EC_OTHER, {"jku": elsewhere.url})
        with pytest.raises(VerificationError) as caught:
            source.verify(view(forged), NOW)
        assert caught.value.code == "bad_signature"
        assert elsewhere.requests == 0
        assert source.verify(view(_es256_token(jku=elsewhere.url)), NOW).key_id == "ec-1"
        assert elsewhere.requests == 0
    finally:
        elsewhere.stop()


def test_source_with_jwks_url_refuses_disallowed_alg_without_fetching(
    server: JWKSServer,
) -> None:
    source = build(keys=None, jwks_url=server.url)
    token = sign_jws(claims(), "ec-1", "HS256", SECRET)
    with pytest.raises(VerificationError) as caught:
        source.verify(view(token), NOW)
    assert caught.value.code == "algorithm_not_allowed"
    assert server.requests == 0


def test_jwks_url_keys_default_to_asymmetric_algorithms(server: JWKSServer) -> None:
    server.document = {
        "keys": [
            ec_jwk(),
            rsa_jwk(alg=None),
            json.loads(OKPAlgorithm.to_jwk(ED_PRIVATE.public_key())) | {"kid": "ed-1"},
        ]
    }
    source = build(keys=None, jwks_url=server.url)
    for kid, alg, key in (
        ("ec-1", "ES256", EC_PRIVATE),
        ("rsa-1", "RS256", RSA_PRIVATE),
        ("ed-1", "EdDSA", ED_PRIVATE),
    ):
        token = sign_jws(claims(), kid, alg, key)
        assert source.verify(view(token), NOW).key_id == kid
    assert server.requests == 1


# -- asyncio: never block the event loop ----------------------------------------------------


def test_aprepare_fetches_in_a_thread_and_the_loop_keeps_running(server: JWKSServer) -> None:
    server.delay = 0.3
    source = build(keys=None, jwks_url=server.url)
    token = _es256_token()

    async def scenario() -> tuple[int, BaseException | None, str | None]:
        ticks, raised = await loop_ticks_while(source.aprepare(view(token)))
        # verify is synchronous, on the loop: the keys are already there.
        return ticks, raised, source.verify(view(token), NOW).key_id

    ticks, raised, key_id = asyncio.run(scenario())
    assert raised is None
    assert key_id == "ec-1"
    assert ticks >= 10  # the loop ran while the fetch waited 0.3 s
    assert server.requests == 1


def test_aprepare_concurrent_requests_share_one_fetch(server: JWKSServer) -> None:
    server.delay = 0.2
    source = build(keys=None, jwks_url=server.url)
    token = _es256_token()

    async def scenario() -> list[str | None]:
        async def one() -> str | None:
            await source.aprepare(view(token))
            return source.verify(view(token), NOW).key_id

        return list(await asyncio.gather(*(one() for _ in range(20))))

    assert asyncio.run(scenario()) == ["ec-1"] * 20
    assert server.requests == 1


def test_lookup_on_the_event_loop_never_blocks(server: JWKSServer) -> None:
    server.delay = 0.5
    jwks = JWKSClient(server.url, timeout=2.0)

    async def scenario() -> float:
        started = time.perf_counter()
        with pytest.raises(KeySourceUnavailable):
            jwks.key_for("ec-1")  # cold, on the loop: refuse now, fetch in the background
        elapsed = time.perf_counter() - started
        for _ in range(200):
            await asyncio.sleep(0.01)
            if jwks._state is not None:
                break
        return elapsed

    elapsed = asyncio.run(scenario())
    assert elapsed < 0.25
    assert jwks.key_for("ec-1").id == "ec-1"
    assert server.requests == 1


def test_aprepare_is_free_when_keys_are_fresh(server: JWKSServer) -> None:
    clock = FakeClock()
    jwks = client(server, clock)
    jwks.key_for("ec-1")
    assert not jwks._needs_fetch("ec-1")
    with pytest.raises(UnknownKey):
        jwks.key_for("nope")
    assert not jwks._needs_fetch("nope")  # known unknown until the next fetch may happen
    clock.advance(61)
    assert jwks._needs_fetch("nope")


# -- faults that are not OSError (issue #11, finding 7) -----------------------------------


def _fresh_token() -> str:
    # ES256 signatures are randomised: every token is new to the verified-token cache.
    return sign_jws(claims(aud=None), "ec-1", "ES256", EC_PRIVATE)


@pytest.mark.parametrize("answer", MISBEHAVIOURS)
def test_misbehaving_endpoint_with_a_cold_cache_is_503(
    raw_server: RawServer, answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    raw_server.answer = answer
    jwks = client(raw_server, FakeClock())
    with caplog.at_level(logging.WARNING, logger="edgeclaims"):
        with pytest.raises(KeySourceUnavailable) as caught:
            jwks.key_for("ec-1")
        jwks.prepare("ec-1")  # never raises
    assert caught.value.code == "key_source_unavailable"
    assert caught.value.status == 503
    assert raw_server.requests == 1
    failures = [r for r in caplog.records if "JWKS fetch" in r.getMessage()]
    # A transport fault handled as one, not caught by the last-resort net.
    assert failures
    assert all(r.levelno == logging.WARNING for r in failures)
    assert "OpenSSH" not in caplog.text  # what the server said is not logged


@pytest.mark.parametrize("answer", MISBEHAVIOURS)
def test_misbehaving_endpoint_with_cached_keys_serves_them_for_max_stale(
    raw_server: RawServer, answer: bytes
) -> None:
    clock = FakeClock()
    jwks = client(raw_server, clock, max_stale=600)
    source = JWSSource(name="j", keys=jwks, algorithms=frozenset({"ES256"}))
    assert source.verify(view(_fresh_token()), NOW).key_id == "ec-1"
    raw_server.answer = answer
    clock.advance(301)  # past max-age=300: a refetch is tried and fails
    assert source.verify(view(_fresh_token()), NOW).key_id == "ec-1"
    assert raw_server.requests == 2
    clock.advance(600)  # past max-age + max_stale
    with pytest.raises(KeySourceUnavailable):
        source.verify(view(_fresh_token()), NOW)
    assert raw_server.requests == 3
    # The endpoint heals: keys again at the next allowed fetch.
    raw_server.answer = good_answer()
    clock.advance(61)
    assert source.verify(view(_fresh_token()), NOW).key_id == "ec-1"


def test_unforeseen_fault_in_a_fetch_is_an_outage(
    server: JWKSServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    jwks = client(server, clock)
    key = jwks.key_for("ec-1")

    def broken(document: object, **options: Any) -> None:
        raise AttributeError("a bug nobody foresaw, quoting the body: s3cr3t-body")

    monkeypatch.setattr("edgeclaims.jwks_client.parse_jwks", broken)
    clock.advance(301)
    with caplog.at_level(logging.WARNING, logger="edgeclaims"):
        assert jwks.key_for("ec-1") is key  # stale-if-error, as for an outage
    assert "unexpected AttributeError" in caplog.text
    assert "s3cr3t-body" not in caplog.text
    cold = client(server, FakeClock())
    with pytest.raises(KeySourceUnavailable):
        cold.key_for("ec-1")


def test_client_repr_and_logs_hide_url_credentials() -> None:
    jwks = JWKSClient("https://svc:pa55w0rd@idp.example/keys?token=q-t0ken")
    assert repr(jwks) == "JWKSClient('https://***@idp.example/keys')"
    assert "pa55w0rd" not in jwks.display_url
    assert "q-t0ken" not in jwks.display_url


# -- the same through the middleware: 503, never a 500 or a 401 ----------------------------


def _jwks_mapping(url: str) -> dict[str, object]:
    # No lower bound on the cache lifetime nor on refetching: with the real
    # clock the middleware uses, every request refetches. No verified-token
    # cache either: a repeated token would skip the key lookup altogether.
    source = jws_config(
        keys=None, jwks_url=url, cache_ttl_min=0, min_refetch_interval=0, cache_size=0
    )
    return config_mapping(sources=[source])


def _wsgi_caller(url: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["edgeclaims.identity"].subject.encode()]

    middleware = WSGIMiddleware(app, _jwks_mapping(url), clock=lambda: NOW)

    def call() -> tuple[int, bytes]:
        statuses: list[str] = []
        environ = build_wsgi_environ(
            "GET", "https://app.example.com/api/orders", {"X-Edge-Jwt": _es256_token()}
        )
        body = b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
        return int(statuses[0].split()[0]), body

    return call


def _asgi_caller(url: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        subject = scope["edgeclaims.identity"].subject.encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": subject})

    middleware = ASGIMiddleware(app, _jwks_mapping(url), clock=lambda: NOW)

    def call() -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = build_asgi_scope(
            "GET", "https://app.example.com/api/orders", [("X-Edge-Jwt", _es256_token())]
        )
        asyncio.run(middleware(scope, receive, send))
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    return call


@pytest.mark.parametrize("caller", [_wsgi_caller, _asgi_caller], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("answer", MISBEHAVIOURS)
def test_middleware_answers_503_when_the_endpoint_misbehaves(
    raw_server: RawServer, answer: bytes, caller: Any
) -> None:
    raw_server.answer = answer
    status, body = caller(raw_server.url)()
    assert (status, json.loads(body)["code"]) == (503, "key_source_unavailable")


@pytest.mark.parametrize("caller", [_wsgi_caller, _asgi_caller], ids=["wsgi", "asgi"])
def test_middleware_serves_stale_keys_when_the_endpoint_misbehaves(
    raw_server: RawServer, caller: Any
) -> None:
    raw_server.answer = good_answer(max_age=0)
    call = caller(raw_server.url)
    assert call() == (200, b"alice")
    raw_server.answer = b"SSH-2.0-OpenSSH_9.6\r\n"
    assert call() == (200, b"alice")
    # The stale key is served while the refetch runs, possibly in the
    # background: wait (bounded) for that refetch to have reached the server.
    deadline = time.monotonic() + 5
    while raw_server.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert raw_server.requests >= 2
