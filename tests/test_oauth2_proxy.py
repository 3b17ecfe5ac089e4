"""The ``oauth2-proxy`` source: GAP-Signature over headers, path, query and body.

The reference vector (tests/vectors/providers.json, ``oauth2_proxy_gap_signature``:
mbland/hmacauth's own test request, recomputed) must verify with its header
list, and every tampered variant must be refused. One table of requests runs
through the source, the WSGI middleware, the ASGI middleware, Flask,
FastAPI and Django, which must give the same verdicts — and wherever the
app runs it reads the body whole, byte for byte. Real waitress and uvicorn
servers show how repeated header lines reach each: kept apart under ASGI
(verifies), joined with ", " by waitress (refused). Signatures for the
other requests are made by ``gap_signature``, checked against the vector
first, so it is an independent oracle only as far as that vector goes;
the expected verdicts do not come from the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import http.client
import io
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from servers import uvicorn_server, waitress_server

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config import config_warnings, load_config
from edgeclaims.config_table import Table
from edgeclaims.engine import Engine
from edgeclaims.errors import ConfigurationError, VerificationError
from edgeclaims.request import RequestView
from edgeclaims.sources import Source, parse_source_config
from edgeclaims.sources.oauth2_proxy import DEFAULT_SIGNED_HEADERS
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ, gap_signature
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

VECTORS = Path(__file__).resolve().parent / "vectors" / "providers.json"
VECTOR = json.loads(VECTORS.read_text(encoding="utf-8"))["oauth2_proxy_gap_signature"][0]
VECTOR_KEY = f"{VECTOR['alg']}:{VECTOR['key']}"
VECTOR_SIGNED = list(VECTOR["signed_headers"])
VECTOR_HEADERS = [(name, value) for name, value in VECTOR["headers"]]
VECTOR_BODY = VECTOR["body"].encode()
HOST = "app.example.com"
NOW = 1_790_000_000.0

Headers = list[tuple[str, str]]


class Request(NamedTuple):
    method: str
    target: str
    headers: Headers
    body: bytes


def source_table(**overrides: Any) -> dict[str, Any]:
    table = {
        "type": "oauth2-proxy",
        "signature_key": VECTOR_KEY,
        "signed_headers": VECTOR_SIGNED,
    }
    table.update(overrides)
    return table


def build(**overrides: Any) -> Source:
    return parse_source_config(
        Table(source_table(**overrides), "sources[0]"), base_dir=Path("."), replay_enabled=True
    )


def mapping(**overrides: Any) -> dict[str, object]:
    return {"sources": [source_table(**overrides)], "replay": {"store": "memory"}}


def replaced(headers: Headers, name: str, value: str | None) -> Headers:
    """The header lines with ``name``'s value changed (None: removed)."""
    out = [(n, v) for n, v in headers if n.lower() != name.lower()]
    return out if value is None else [*out, (name, value)]


def vector_request(**changes: Any) -> Request:
    headers = [*VECTOR_HEADERS, ("GAP-Signature", changes.pop("signature", VECTOR["signature"]))]
    return Request(VECTOR["method"], VECTOR["target"], headers, VECTOR_BODY)._replace(**changes)


def _hmac_b64(key: bytes, alg: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, alg).digest()).decode()


def _vector_message() -> bytes:
    """The vector's string to sign ‖ body, spelled out here from hmacauth's rules."""
    values = dict((n.lower(), v) for n, v in VECTOR_HEADERS)
    lines = [VECTOR["method"], *(values.get(h.lower(), "") for h in VECTOR_SIGNED), "/foo/bar"]
    return ("\n".join(lines) + "\n").encode() + VECTOR_BODY


def _truncated() -> str:
    digest = base64.b64decode(VECTOR["signature"].split(" ")[1])
    return "sha1 " + base64.b64encode(digest[:10]).decode()


#: (id, request, expected verdict: "ok" or the refusal code)
CASES: list[tuple[str, Request, str]] = [
    ("vector", vector_request(), "ok"),
    (
        "tampered body",
        vector_request(body=VECTOR_BODY.replace(b"world", b"World")),
        "bad_signature",
    ),
    (
        "tampered signed header X-Forwarded-User",
        vector_request(headers=replaced(vector_request().headers, "X-Forwarded-User", "mallory")),
        "bad_signature",
    ),
    (
        "tampered signed header Cookie",
        vector_request(headers=replaced(vector_request().headers, "Cookie", "foo; bar; baz=q")),
        "bad_signature",
    ),
    (
        "signed header removed (Gap-Auth)",
        vector_request(headers=replaced(vector_request().headers, "Gap-Auth", None)),
        "bad_signature",
    ),
    ("tampered path", vector_request(target="/foo/baz"), "bad_signature"),
    ("percent-encoded path is the same URL.Path", vector_request(target="/foo/%62ar"), "ok"),
    ("query added", vector_request(target="/foo/bar?admin=1"), "bad_signature"),
    ("tampered method", vector_request(method="PUT"), "bad_signature"),
    (
        "downgrade: header says sha256, sha1 configured",
        vector_request(signature="sha256 " + _hmac_b64(b"foobar", "sha256", _vector_message())),
        "algorithm_not_allowed",
    ),
    ("truncated signature", vector_request(signature=_truncated()), "bad_signature"),
    ("empty signature", vector_request(signature="sha1 "), "malformed"),
    ("algorithm alone", vector_request(signature="sha1"), "malformed"),
    (
        "unpadded base64",
        vector_request(signature=VECTOR["signature"].rstrip("=")),
        "malformed",
    ),
    (
        "two spaces",
        vector_request(signature=VECTOR["signature"].replace(" ", "  ")),
        "malformed",
    ),
    (
        "another key",
        vector_request(signature="sha1 " + _hmac_b64(b"foobaz", "sha1", _vector_message())),
        "bad_signature",
    ),
]
CASE_PARAMS = [pytest.param(request, expected, id=name) for name, request, expected in CASES]


def test_the_message_spelled_out_here_is_the_vectors() -> None:
    assert f"sha1 {_hmac_b64(b'foobar', 'sha1', _vector_message())}" == VECTOR["signature"]


def test_gap_signature_reproduces_the_vector() -> None:
    made = gap_signature(
        VECTOR["method"],
        f"https://{HOST}{VECTOR['target']}",
        VECTOR_HEADERS,
        VECTOR_BODY,
        key=VECTOR_KEY,
        signed_headers=VECTOR_SIGNED,
    )
    assert made == {"GAP-Signature": VECTOR["signature"]}


# -- the entry points -------------------------------------------------------------------

Verdict = tuple[str, "str | None"]


def verdict_of(status: int, body: dict[str, Any]) -> Verdict:
    return ("ok", body["sub"]) if status == 200 else (body["code"], None)


def expected(code: str) -> Verdict:
    return (code, "mbland" if code == "ok" else None)


def via_source(request: Request, source: Source | None = None) -> Verdict:
    view = RequestView.from_asgi(
        build_asgi_scope(request.method, f"https://{HOST}{request.target}", request.headers)
    )
    view.body = request.body
    try:
        assertion = (source or build()).verify(view, NOW)
    except VerificationError as exc:
        return (exc.code, None)
    return ("ok", assertion.subject)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    identity = environ["edgeclaims.identity"]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    seen = sorted(
        k for k in environ if k.startswith(("HTTP_X_FORWARDED_", "HTTP_GAP_")) and k != "HTTP_X_FORWARDED_FOR"
    )  # fmt: skip
    start_response("200 OK", [("Content-Type", "application/json")])
    answer = {
        "sub": identity.subject if identity else None,
        "claims": dict(identity.claims) if identity else {},
        "body": body.decode(),
        "seen": seen,
    }
    return [json.dumps(answer).encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    identity = scope["edgeclaims.identity"]
    seen = sorted(
        n.decode() for n, _ in scope["headers"] if n.startswith((b"x-forwarded-u", b"gap"))
    )
    answer = {
        "sub": identity.subject if identity else None,
        "claims": dict(identity.claims) if identity else {},
        "body": body.decode(),
        "seen": seen,
    }
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


def wsgi_environ(request: Request) -> dict[str, Any]:
    # The table repeats no header name: one environ entry each, as any server makes it.
    url = f"https://{HOST}{request.target}"
    environ = build_wsgi_environ(request.method, url, dict(request.headers))
    environ["wsgi.input"] = io.BytesIO(request.body)
    return environ


def call_wsgi(middleware: Any, request: Request) -> tuple[int, dict[str, Any]]:
    statuses: list[str] = []
    environ = wsgi_environ(request)
    out = b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
    return int(statuses[0].split()[0]), json.loads(out)


def asgi_messages(body: bytes, pieces: int = 3) -> list[dict[str, Any]]:
    """The body as several http.request messages, as servers send a large one."""
    size = max(1, -(-len(body) // pieces))
    chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]


def call_asgi(
    middleware: Any,
    request: Request,
    messages: list[dict[str, Any]] | None = None,
) -> tuple[int, dict[str, Any]]:
    queue = list(messages if messages is not None else asgi_messages(request.body))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = build_asgi_scope(request.method, f"https://{HOST}{request.target}", request.headers)
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.fixture(scope="module")
def wsgi() -> WSGIMiddleware:
    return WSGIMiddleware(wsgi_app, mapping(), clock=lambda: NOW)


@pytest.fixture(scope="module")
def asgi() -> ASGIMiddleware:
    return ASGIMiddleware(asgi_app, mapping(), clock=lambda: NOW)


@pytest.mark.parametrize(("request_", "code"), CASE_PARAMS)
def test_source(request_: Request, code: str) -> None:
    assert via_source(request_) == expected(code)


@pytest.mark.parametrize(("request_", "code"), CASE_PARAMS)
def test_wsgi(wsgi: WSGIMiddleware, request_: Request, code: str) -> None:
    status, body = call_wsgi(wsgi, request_)
    assert verdict_of(status, body) == expected(code)
    if status == 200:
        assert body["body"] == request_.body.decode()  # the app read the body whole
        assert body["seen"] == []


@pytest.mark.parametrize(("request_", "code"), CASE_PARAMS)
def test_asgi(asgi: ASGIMiddleware, request_: Request, code: str) -> None:
    status, body = call_asgi(asgi, request_)
    assert verdict_of(status, body) == expected(code)
    if status == 200:
        assert body["body"] == request_.body.decode()
        assert body["seen"] == []


@pytest.fixture(scope="module")
def flask_client() -> Any:
    flask = pytest.importorskip("flask")
    from edgeclaims.contrib.flask import EdgeClaims, current_identity

    app = flask.Flask(__name__)
    EdgeClaims(app, mapping(), clock=lambda: NOW)

    @app.route("/<path:rest>", methods=["GET", "POST", "PUT"])
    def echo(rest: str) -> Any:
        seen = sorted(
            k for k, _ in flask.request.headers if k.lower().startswith(("x-forwarded-u", "gap"))
        )
        return {
            "sub": current_identity.subject,
            "body": flask.request.get_data().decode(),
            "seen": seen,
        }

    # Without its cookie jar, Werkzeug's client sends the Cookie header as given.
    return app.test_client(use_cookies=False)


def flask_call(client: Any, request: Request) -> tuple[int, dict[str, Any]]:
    response = client.open(
        request.target,
        method=request.method,
        base_url=f"https://{HOST}",
        headers=request.headers,
        data=request.body,
    )
    return response.status_code, response.get_json()


@pytest.mark.parametrize(("request_", "code"), CASE_PARAMS)
def test_flask(flask_client: Any, request_: Request, code: str) -> None:
    status, body = flask_call(flask_client, request_)
    assert verdict_of(status, body) == expected(code)
    if status == 200:
        assert body["body"] == request_.body.decode()  # request.get_data() after verifying
        assert body["seen"] == []


@pytest.fixture(scope="module")
def fastapi_client() -> Any:
    fastapi = pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = fastapi.FastAPI()
    app.add_middleware(ASGIMiddleware, config=mapping(), clock=lambda: NOW)

    async def echo(request: Any) -> Any:
        identity = request.scope["edgeclaims.identity"]
        body = await request.body()
        seen = sorted(k for k in request.headers if k.startswith(("x-forwarded-u", "gap")))
        return {"sub": identity.subject, "body": body.decode(), "seen": seen}

    # Resolved here: the module's annotations are strings FastAPI cannot see into.
    echo.__annotations__ = {"request": fastapi.Request, "return": Any}
    app.api_route("/{rest:path}", methods=["GET", "POST", "PUT"])(echo)

    return TestClient(app, base_url=f"https://{HOST}")


@pytest.mark.parametrize(("request_", "code"), CASE_PARAMS)
def test_fastapi(fastapi_client: Any, request_: Request, code: str) -> None:
    response = fastapi_client.request(
        request_.method, request_.target, headers=request_.headers, content=request_.body
    )
    assert verdict_of(response.status_code, response.json()) == expected(code), response.text
    if response.status_code == 200:
        assert response.json()["body"] == request_.body.decode()  # await request.body()
        assert response.json()["seen"] == []


@pytest.fixture(scope="module")
def django_middleware() -> Any:
    contrib = Path(__file__).resolve().parent / "contrib"
    if str(contrib) not in sys.path:
        sys.path.insert(0, str(contrib))
    from contrib_tables import framework

    django = framework("django")
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
    django.setup()
    from edgeclaims.contrib.django.middleware import EdgeClaimsMiddleware

    class GapMiddleware(EdgeClaimsMiddleware):
        def build_engine(self) -> Engine:
            return Engine(mapping(max_body=64), clock=lambda: NOW)

    return GapMiddleware


def _django_view(request: Any) -> Any:
    from django.http import JsonResponse

    seen = sorted(k for k in request.headers if k.lower().startswith(("x-forwarded-u", "gap")))
    body = request.body.decode()
    return JsonResponse({"sub": request.edgeclaims.subject, "body": body, "seen": seen})


def django_wsgi_call(middleware: Any, request: Request) -> tuple[int, dict[str, Any]]:
    from django.core.handlers.wsgi import WSGIRequest

    response = middleware(_django_view)(WSGIRequest(wsgi_environ(request)))
    return response.status_code, json.loads(response.content)


def django_asgi_call(middleware: Any, request: Request) -> tuple[int, dict[str, Any]]:
    from django.core.handlers.asgi import ASGIRequest

    async def view(r: Any) -> Any:
        return _django_view(r)

    scope = build_asgi_scope(request.method, f"https://{HOST}{request.target}", request.headers)
    response = asyncio.run(middleware(view)(ASGIRequest(scope, io.BytesIO(request.body))))
    return response.status_code, json.loads(response.content)


@pytest.mark.parametrize(("request_", "code"), CASE_PARAMS)
@pytest.mark.parametrize("call", [django_wsgi_call, django_asgi_call], ids=["wsgi", "asgi"])
def test_django(
    django_middleware: Any, call: Callable[..., Any], request_: Request, code: str
) -> None:
    status, body = call(django_middleware, request_)
    assert verdict_of(status, body) == expected(code)
    if status == 200:
        assert body["body"] == request_.body.decode()  # request.body, read again by the view
        assert body["seen"] == []


# -- downgrade the other way, and the algorithm from configuration -------------------------


def test_downgrade_header_sha1_when_sha256_configured() -> None:
    source = build(signature_key="sha256:foobar")
    # A correct sha1 signature with the right key: refused, sha256 is configured.
    assert via_source(vector_request(), source) == ("algorithm_not_allowed", None)
    good = "sha256 " + _hmac_b64(b"foobar", "sha256", _vector_message())
    assert via_source(vector_request(signature=good), source) == ("ok", "mbland")


# -- repeated header lines ---------------------------------------------------------------

KEY = "sha256:repeated-lines-secret"


def cookie_request(cookie_lines: list[str]) -> Request:
    headers = [("X-Forwarded-User", "alice"), *(("Cookie", c) for c in cookie_lines)]
    signed = gap_signature("GET", "/r", headers, key=KEY)  # Go joins the lines with ","
    return Request("GET", "/r", [*headers, *signed.items()], b"")


def test_go_joins_repeated_lines_with_a_comma() -> None:
    apart = cookie_request(["a=1", "b=2"]).headers[-1][1]
    joined = gap_signature(
        "GET", "/r", [("X-Forwarded-User", "alice"), ("Cookie", "a=1,b=2")], key=KEY
    )
    assert joined["GAP-Signature"] == apart


def test_asgi_keeps_repeated_lines_apart_and_verifies() -> None:
    middleware = ASGIMiddleware(
        asgi_app, mapping(signature_key=KEY, signed_headers=list(DEFAULT_SIGNED_HEADERS))
    )
    status, body = call_asgi(middleware, cookie_request(["a=1", "b=2"]))
    assert (status, body["sub"]) == (200, "alice")


@pytest.mark.parametrize(
    ("joined", "code"),
    [
        pytest.param("a=1,b=2", "ok", id="joined with ',' (gunicorn, Werkzeug, wsgiref)"),
        pytest.param("a=1, b=2", "bad_signature", id="joined with ', ' (waitress)"),
    ],
)
def test_wsgi_sees_one_joined_value(joined: str, code: str) -> None:
    middleware = WSGIMiddleware(
        wsgi_app, mapping(signature_key=KEY, signed_headers=list(DEFAULT_SIGNED_HEADERS))
    )
    request = cookie_request(["a=1", "b=2"])
    environ = wsgi_environ(
        request._replace(headers=[h for h in request.headers if h[0] != "Cookie"])
    )
    environ["HTTP_COOKIE"] = joined
    statuses: list[str] = []
    out = json.loads(b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s))))
    assert (out.get("code") or "ok") == code


def test_a_repeated_identity_header_is_ambiguous_under_asgi() -> None:
    headers = [("X-Forwarded-User", "alice"), ("X-Forwarded-User", "admin")]
    signed = gap_signature("GET", "/r", headers, key=KEY)
    request = Request("GET", "/r", [*headers, *signed.items()], b"")
    source = build(signature_key=KEY, signed_headers=list(DEFAULT_SIGNED_HEADERS))
    # The signature verifies (Go signs "alice,admin"), but no one is named twice.
    assert via_source(request, source) == ("ambiguous", None)


# -- the body: bounded, replayed, only when needed ---------------------------------------------

BIG_KEY = "sha256:body-limit-secret"


def big_request(size: int, target: str = "/upload") -> Request:
    body = bytes(range(48, 58)) * (size // 10) + b"x" * (size % 10)
    headers = [
        ("X-Forwarded-User", "alice"),
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
    ]
    signed = gap_signature("POST", target, headers, body, key=BIG_KEY)
    return Request("POST", target, [*headers, *signed.items()], body)


class Counting:
    """A WSGI/ASGI app wrapper that counts the calls that reached the app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        return self.app(*args)


def limited(mode: str = "enforce") -> dict[str, object]:
    signed = list(DEFAULT_SIGNED_HEADERS)
    config = mapping(signature_key=BIG_KEY, signed_headers=signed, max_body=100)
    return {**config, "mode": mode}


@pytest.mark.parametrize("size", [0, 1, 99, 100], ids=lambda n: f"{n} bytes")
def test_a_body_up_to_max_body_verifies_and_reaches_the_app_whole(size: int) -> None:
    wsgi = WSGIMiddleware(wsgi_app, limited())
    asgi = ASGIMiddleware(asgi_app, limited())
    request = big_request(size)
    for status, body in (call_wsgi(wsgi, request), call_asgi(asgi, request)):
        assert (status, body["sub"], body["body"]) == (200, "alice", request.body.decode())


def test_a_body_over_max_body_is_too_large_and_the_app_never_runs() -> None:
    request = big_request(101)
    app_w, app_a = Counting(wsgi_app), Counting(asgi_app)
    status, body = call_wsgi(WSGIMiddleware(app_w, limited()), request)
    assert (status, body["code"]) == (413, "too_large")
    status, body = call_asgi(ASGIMiddleware(app_a, limited()), request)
    assert (status, body["code"]) == (413, "too_large")
    assert app_w.calls == app_a.calls == 0


def test_a_chunked_wsgi_body_over_max_body_is_too_large() -> None:
    request = big_request(500)
    environ = wsgi_environ(request)
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True  # a chunked body: read to its end
    app = Counting(wsgi_app)
    statuses: list[str] = []
    out = json.loads(
        b"".join(WSGIMiddleware(app, limited())(environ, lambda s, h, e=None: statuses.append(s)))
    )
    assert (statuses[0][:3], out["code"], app.calls) == ("413", "too_large", 0)
    assert environ["wsgi.input"].read() == request.body  # what was read is put back first


def test_asgi_reads_no_more_than_max_body_before_refusing() -> None:
    request = big_request(1000)
    left = asgi_messages(request.body, pieces=10)  # 100 bytes each
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return left.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = build_asgi_scope("POST", f"https://{HOST}/upload", request.headers)
    asyncio.run(ASGIMiddleware(asgi_app, limited())(scope, receive, send))
    assert sent[0]["status"] == 413
    assert len(left) == 8  # the second message passed the limit: the rest stayed unread


def test_monitor_mode_hands_an_oversized_body_to_the_app_whole() -> None:
    request = big_request(300)
    for status, body in (
        call_wsgi(WSGIMiddleware(wsgi_app, limited(mode="monitor")), request),
        call_asgi(ASGIMiddleware(asgi_app, limited(mode="monitor")), request),
    ):
        # Never verified, so anonymous; the body is still all there.
        assert (status, body["sub"], body["body"]) == (200, None, request.body.decode())


def test_monitor_mode_chunked_wsgi_body_is_rewound() -> None:
    request = big_request(300)
    environ = wsgi_environ(request)
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    seen: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"{}"]

    b"".join(WSGIMiddleware(app, limited(mode="monitor"))(environ, lambda s, h, e=None: None))
    assert seen == [request.body]


def test_a_client_gone_mid_body_is_refused() -> None:
    request = big_request(90)
    messages = [*asgi_messages(request.body, pieces=3)[:2], {"type": "http.disconnect"}]
    app = Counting(asgi_app)
    status, body = call_asgi(ASGIMiddleware(app, limited()), request, messages)
    assert (status, body["code"], app.calls) == (401, "malformed", 0)


def test_a_short_wsgi_body_is_refused() -> None:
    request = big_request(90)
    environ = wsgi_environ(request)
    environ["wsgi.input"] = io.BytesIO(request.body[:50])  # the client stopped sending
    statuses: list[str] = []
    out = json.loads(
        b"".join(
            WSGIMiddleware(wsgi_app, limited())(environ, lambda s, h, e=None: statuses.append(s))
        )
    )
    assert (statuses[0][:3], out["code"]) == ("401", "malformed")


def test_a_source_without_the_body_refuses() -> None:
    view = RequestView.from_asgi(
        build_asgi_scope("POST", "https://app.example.com/foo/bar", vector_request().headers)
    )
    with pytest.raises(VerificationError) as caught:
        build().verify(view, NOW)  # no adapter read the body (edgeclaims verify, say)
    assert caught.value.code == "malformed"


class Untouchable(io.RawIOBase):
    """A wsgi.input that fails the test when read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def test_no_body_is_read_when_the_deciding_source_does_not_sign_it() -> None:
    rfc9421 = {
        "type": "rfc9421",
        "keys": [{"id": "k", "alg": "hmac-sha256", "secret": "hex:" + "ab" * 32}],
    }
    config = {
        "sources": [rfc9421, source_table()],
        "replay": {"store": "memory"},
        "public_paths": ["/open"],
    }
    engine = Engine(config)
    assert engine.reads_body
    stream = Untouchable()
    environ = build_wsgi_environ("POST", f"https://{HOST}/open", {"Content-Length": "5"})
    environ["wsgi.input"] = stream
    statuses: list[str] = []
    WSGIMiddleware(lambda e, s: s("200 OK", []) or [b""], engine=engine)(
        environ, lambda s, h, e=None: statuses.append(s)
    )
    assert statuses == ["200 OK"]
    assert environ["wsgi.input"] is stream
    # An earlier source's header decides: not GAP-Signature's, so no body either.
    environ = build_wsgi_environ(
        "POST",
        f"https://{HOST}/x",
        {"Content-Length": "5", "X-Edge-Claims": "x", "GAP-Signature": "sha1 AAAA"},
    )
    environ["wsgi.input"] = stream
    WSGIMiddleware(lambda e, s: [b""], engine=engine)(
        environ, lambda s, h, e=None: statuses.append(s)
    )
    assert environ["wsgi.input"] is stream


def test_an_engine_without_such_a_source_reads_no_body() -> None:
    rfc9421 = {
        "type": "rfc9421",
        "keys": [{"id": "k", "alg": "hmac-sha256", "secret": "hex:" + "ab" * 32}],
    }
    assert Engine({"sources": [rfc9421], "replay": {"store": "memory"}}).reads_body is False


def test_a_websocket_handshake_is_signed_with_an_empty_body() -> None:
    headers = [("X-Forwarded-User", "alice")]
    signed = gap_signature("GET", "/ws", headers, key=KEY)
    scope = build_asgi_scope("GET", f"https://{HOST}/ws", [*headers, *signed.items()])
    scope["type"] = "websocket"
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["edgeclaims.identity"].subject)

    async def never() -> dict[str, Any]:
        raise AssertionError("receive called before the app")

    async def send(message: dict[str, Any]) -> None:
        seen.append(message)

    middleware = ASGIMiddleware(
        app, mapping(signature_key=KEY, signed_headers=list(DEFAULT_SIGNED_HEADERS))
    )
    asyncio.run(middleware(scope, never, send))
    assert seen == ["alice"]


# -- Django's own limit ---------------------------------------------------------------------


def test_django_max_body_and_data_upload_max_memory_size(django_middleware: Any) -> None:
    from django.test import override_settings

    def request_for(size: int) -> Request:
        body = b"y" * size
        headers = [("X-Forwarded-User", "mbland"), ("Content-Length", str(size))]
        signed = gap_signature(
            "POST", "/d", headers, body, key=VECTOR_KEY, signed_headers=VECTOR_SIGNED
        )
        return Request("POST", "/d", [*headers, *signed.items()], body)

    for call in (django_wsgi_call, django_asgi_call):
        assert call(django_middleware, request_for(64))[0] == 200
        status, body = call(django_middleware, request_for(65))  # max_body = 64
        assert (status, body["code"]) == (413, "too_large")
        with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=32):
            status, body = call(django_middleware, request_for(40))
            assert (status, body["code"]) == (413, "too_large")
            assert call(django_middleware, request_for(32))[0] == 200


# -- identity from signed headers only ------------------------------------------------------------


def identity_of(headers: Headers, **overrides: Any) -> tuple[str, dict[str, Any]] | str:
    table = {"signature_key": KEY, "signed_headers": list(DEFAULT_SIGNED_HEADERS), **overrides}
    signed_headers = table["signed_headers"]
    signed = gap_signature("GET", "/me", headers, key=KEY, signed_headers=signed_headers)
    view = RequestView.from_asgi(
        build_asgi_scope("GET", f"https://{HOST}/me", [*headers, *signed.items()])
    )
    view.body = b""
    try:
        assertion = build(**table).verify(view, NOW)
    except VerificationError as exc:
        return exc.code
    assert assertion.subject is not None
    return assertion.subject, assertion.claims


def test_claims_come_from_the_signed_forwarded_headers() -> None:
    headers = [
        ("X-Forwarded-User", "alice"),
        ("X-Forwarded-Email", "alice@example.com"),
        ("X-Forwarded-Preferred-User", "Alice A."),
        ("Gap-Auth", "alice"),
    ]
    assert identity_of(headers) == (
        "alice",
        {"user": "alice", "email": "alice@example.com", "preferred_username": "Alice A."},
    )


def test_a_header_outside_signed_headers_is_never_a_claim() -> None:
    headers = [("X-Forwarded-User", "alice"), ("X-Forwarded-Preferred-User", "root")]
    older = [h for h in DEFAULT_SIGNED_HEADERS if h != "X-Forwarded-Preferred-User"]
    assert identity_of(headers, signed_headers=older) == ("alice", {"user": "alice"})


def test_gap_auth_is_the_subject_without_x_forwarded_user() -> None:
    headers = [("X-Forwarded-Email", "bob@example.com"), ("Gap-Auth", "bob@example.com")]
    assert identity_of(headers) == ("bob@example.com", {"email": "bob@example.com"})


def test_no_user_and_no_gap_auth_names_no_one() -> None:
    assert identity_of([("X-Forwarded-Email", "bob@example.com")]) == "incomplete_claims"


def test_unsigned_gap_auth_is_not_a_subject() -> None:
    unsigned = [h for h in DEFAULT_SIGNED_HEADERS if h not in ("Gap-Auth", "X-Forwarded-User")]
    assert identity_of([("Gap-Auth", "root")], signed_headers=unsigned) == "incomplete_claims"


def test_subject_claim_and_required_claims() -> None:
    headers = [("X-Forwarded-User", "alice"), ("X-Forwarded-Email", "alice@example.com")]
    assert identity_of(headers, subject_claim="email")[0] == "alice@example.com"  # type: ignore[index]
    assert (
        identity_of([("X-Forwarded-User", "a")], required_claims=["email"]) == "incomplete_claims"
    )


def test_forwarded_headers_are_stripped_even_without_a_signature(
    wsgi: WSGIMiddleware, asgi: ASGIMiddleware
) -> None:
    forged = [
        ("X-Forwarded-User", "admin"),
        ("X-Forwarded-Email", "admin@example.com"),
        ("X-Forwarded-Groups", "admins"),
        ("X-Forwarded-Access-Token", "t"),
        ("Gap-Auth", "admin"),
    ]
    request = Request("GET", "/x", forged, b"")
    for status, body in (call_wsgi(wsgi, request), call_asgi(asgi, request)):
        assert (status, body["code"]) == (401, "missing")  # not an identity on their own
    engine = Engine(mapping())
    assert {"gap-signature", "x-forwarded-user", "x-forwarded-email", "x-forwarded-preferred-user",
            "x-forwarded-access-token", "x-forwarded-groups", "gap-auth"} <= set(engine.stripped_headers)  # fmt: skip


# -- freshness through Date -----------------------------------------------------------------------


def dated(date: str | None, **overrides: Any) -> str:
    headers = [("X-Forwarded-User", "alice")] + ([("Date", date)] if date is not None else [])
    result = identity_of(headers, max_age=60, **overrides)
    return result if isinstance(result, str) else "ok"


@pytest.mark.parametrize(
    ("date", "code"),
    [
        pytest.param(formatdate(NOW, usegmt=True), "ok", id="now"),
        pytest.param(formatdate(NOW - 85, usegmt=True), "ok", id="85 s old: max_age + leeway"),
        pytest.param(formatdate(NOW - 91, usegmt=True), "expired", id="91 s old"),
        pytest.param(formatdate(NOW + 25, usegmt=True), "ok", id="25 s ahead: within leeway"),
        pytest.param(formatdate(NOW + 40, usegmt=True), "not_yet_valid", id="40 s ahead"),
        pytest.param(None, "expired", id="no Date"),
        pytest.param("2015-09-28", "malformed", id="not an HTTP date"),
        pytest.param("Mon, 31 Feb 2026 10:00:00 GMT", "malformed", id="no such day"),
        pytest.param(formatdate(NOW), "malformed", id="numeric zone, not GMT"),
    ],
)
def test_max_age_bounds_the_signed_date(date: str | None, code: str) -> None:
    assert dated(date) == code


def test_max_age_zero_reads_no_date() -> None:
    assert identity_of([("X-Forwarded-User", "a"), ("Date", "whenever")])[0] == "a"  # type: ignore[index]


def test_max_age_needs_date_signed() -> None:
    without = [h for h in DEFAULT_SIGNED_HEADERS if h != "Date"]
    with pytest.raises(ConfigurationError) as caught:
        build(max_age=60, signed_headers=without)
    assert caught.value.path == "sources[0].max_age"


# -- configuration ------------------------------------------------------------------------------

SECRET_TEXT = "s3cr3t-never-shown-0123456789"


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        pytest.param({"signature_key": None}, "sources[0]", id="no key"),
        pytest.param({"signature_key_env": "X"}, "sources[0]", id="two keys"),
        pytest.param(
            {"signature_key": f"sha512:{SECRET_TEXT}"}, "sources[0].signature_key", id="sha512"
        ),
        pytest.param({"signature_key": SECRET_TEXT}, "sources[0].signature_key", id="no alg"),
        pytest.param(
            {"signature_key": f"sha256:{SECRET_TEXT}:x"},
            "sources[0].signature_key",
            id="colon in secret",
        ),
        pytest.param({"signature_key": "sha256:"}, "sources[0].signature_key", id="empty secret"),
        pytest.param({"signed_headers": []}, "sources[0].signed_headers", id="no headers"),
        pytest.param(
            {"signed_headers": ["Date", "date"]}, "sources[0].signed_headers[1]", id="twice"
        ),
        pytest.param(
            {"signed_headers": ["GAP-Signature"]}, "sources[0].signed_headers[0]", id="itself"
        ),
        pytest.param(
            {"signed_headers": ["X Bad"]}, "sources[0].signed_headers[0]", id="not a name"
        ),
        pytest.param({"max_body": -1}, "sources[0].max_body", id="negative max_body"),
        pytest.param({"max_agee": 5}, "sources[0].max_agee", id="typo"),
    ],
)
def test_configuration_errors_name_the_key_and_never_the_secret(
    overrides: dict[str, Any], path: str
) -> None:
    table = {k: v for k, v in source_table(**overrides).items() if v is not None}
    with pytest.raises(ConfigurationError) as caught:
        parse_source_config(Table(table, "sources[0]"), base_dir=Path("."), replay_enabled=True)
    assert caught.value.path == path
    assert SECRET_TEXT not in str(caught.value)


def test_key_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAP_TEST_KEY", VECTOR_KEY)
    (tmp_path / "gap.key").write_text(VECTOR_KEY + "\n", encoding="utf-8")
    for table in (
        {"signature_key_env": "GAP_TEST_KEY"},
        {"signature_key_file": str(tmp_path / "gap.key")},
    ):
        source = parse_source_config(
            Table({"type": "oauth2-proxy", "signed_headers": VECTOR_SIGNED, **table}, "sources[0]"),
            base_dir=tmp_path,
            replay_enabled=True,
        )
        assert via_source(vector_request(), source) == ("ok", "mbland")
        assert "foobar" not in repr(source)


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        pytest.param(
            {"signature_key_env": "GAP_TEST_UNSET"}, "GAP_TEST_UNSET is not set", id="unset"
        ),
        pytest.param(
            {"signature_key_env": f"sha256:{SECRET_TEXT}"},
            "holds the key itself",
            id="env holds key",
        ),
        pytest.param(
            {"signature_key_file": f"sha1:{SECRET_TEXT}"},
            "holds the key itself",
            id="file holds key",
        ),
        pytest.param({"signature_key_file": "missing.key"}, "cannot read", id="no file"),
    ],
)
def test_key_source_errors(table: dict[str, str], problem: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_source_config(
            Table({"type": "oauth2-proxy", **table}, "sources[0]"),
            base_dir=tmp_path,
            replay_enabled=True,
        )
    assert problem in str(caught.value)
    assert SECRET_TEXT not in str(caught.value)


def test_warnings_no_replay_protection_and_key_in_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [w.id for w in config_warnings(load_config(mapping()))]
    assert ids.count("W014") == 1
    assert ids.count("W008") == 1
    monkeypatch.setenv("GAP_TEST_KEY", VECTOR_KEY)
    env = {"type": "oauth2-proxy", "signature_key_env": "GAP_TEST_KEY"}
    ids = [
        w.id
        for w in config_warnings(load_config({"sources": [env], "replay": {"store": "memory"}}))
    ]
    assert "W014" in ids
    assert "W008" not in ids


def test_refusals_name_no_secret_and_no_header_value() -> None:
    request = vector_request(
        headers=replaced(vector_request().headers, "X-Forwarded-User", "mallory")
    )
    view = RequestView.from_asgi(
        build_asgi_scope("POST", f"https://{HOST}/foo/bar", request.headers)
    )
    view.body = request.body
    with pytest.raises(VerificationError) as caught:
        build().verify(view, NOW)
    text = f"{caught.value} {caught.value!r}"
    assert "foobar" not in text
    assert "mallory" not in text
    assert "K4IrVD" not in text


# -- real servers ------------------------------------------------------------------------------


def send(port: int, request: Request) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(
            request.method, request.target, skip_host=True, skip_accept_encoding=True
        )
        connection.putheader("Host", HOST)
        for name, value in request.headers:
            connection.putheader(name, value)
        connection.endheaders(request.body or None)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[int, Counting]]]:
    pytest.importorskip("waitress")
    pytest.importorskip("uvicorn")
    config = mapping(
        signature_key=BIG_KEY, signed_headers=list(DEFAULT_SIGNED_HEADERS), max_body=4096
    )
    wsgi_counted, asgi_counted = Counting(wsgi_app), Counting(asgi_app)
    with (
        waitress_server(WSGIMiddleware(wsgi_counted, config)) as wsgi_port,
        uvicorn_server(ASGIMiddleware(asgi_counted, config)) as asgi_port,
    ):
        yield {"waitress": (wsgi_port, wsgi_counted), "uvicorn": (asgi_port, asgi_counted)}


@pytest.mark.parametrize("server", ["waitress", "uvicorn"])
def test_real_server_verifies_and_the_app_reads_the_body(servers: Any, server: str) -> None:
    port, _ = servers[server]
    request = big_request(3000, target="/upload?kind=csv&n=%2F1")
    status, body = send(port, request)
    assert (status, body["sub"], body["body"]) == (200, "alice", request.body.decode())
    status, body = send(port, request._replace(body=request.body[:-1] + b"!"))
    assert (status, body["code"]) == (401, "bad_signature")


@pytest.mark.parametrize("server", ["waitress", "uvicorn"])
def test_real_server_refuses_a_body_over_max_body_before_the_app(servers: Any, server: str) -> None:
    port, counted = servers[server]
    before = counted.calls
    status, body = send(port, big_request(5000))
    assert (status, body["code"], counted.calls) == (413, "too_large", before)


@pytest.mark.parametrize(("server", "code"), [("waitress", "bad_signature"), ("uvicorn", "ok")])
def test_real_server_repeated_cookie_lines(servers: Any, server: str, code: str) -> None:
    port, _ = servers[server]
    headers = [("X-Forwarded-User", "alice"), ("Cookie", "a=1"), ("Cookie", "b=2")]
    signed = gap_signature("GET", "/r", headers, key=BIG_KEY)
    _status, body = send(port, Request("GET", "/r", [*headers, *signed.items()], b""))
    # uvicorn hands both lines over apart (joined with "," as Go does); waitress
    # joins them with ", ", which is no longer what oauth2-proxy signed.
    assert (body.get("code") or "ok") == code


def test_frameworks_refuse_a_body_over_max_body_before_the_view() -> None:
    flask = pytest.importorskip("flask")
    fastapi = pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from edgeclaims.contrib.flask import EdgeClaims

    views: list[str] = []
    flask_app = flask.Flask(__name__)
    EdgeClaims(flask_app, limited())

    @flask_app.post("/upload")
    def flask_view() -> Any:
        views.append("flask")
        return {"sub": None, "body": flask.request.get_data().decode()}

    fastapi_app = fastapi.FastAPI()
    fastapi_app.add_middleware(ASGIMiddleware, config=limited())

    async def fastapi_view(request: Any) -> Any:
        views.append("fastapi")
        return {"body": (await request.body()).decode()}

    fastapi_view.__annotations__ = {"request": fastapi.Request, "return": Any}
    fastapi_app.post("/upload")(fastapi_view)
    flask_client = flask_app.test_client()
    fastapi_client = TestClient(fastapi_app, base_url=f"https://{HOST}")
    for size, status in ((100, 200), (101, 413)):
        request = big_request(size)
        answers = [
            flask_client.post(
                "/upload", base_url=f"https://{HOST}", headers=request.headers, data=request.body
            ),
            fastapi_client.post("/upload", headers=request.headers, content=request.body),
        ]
        for response in answers:
            answer = json.loads(response.content if hasattr(response, "content") else response.data)
            assert response.status_code == status
            if status == 200:
                assert answer["body"] == request.body.decode()
            else:
                assert answer["code"] == "too_large"
    assert views == ["flask", "fastapi"]  # the oversized request reached no view


def test_cli_verify_takes_the_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeclaims.cli import main

    config = tmp_path / "edgeclaims.toml"
    signed = ", ".join(json.dumps(name) for name in VECTOR_SIGNED)
    config.write_text(
        '[edgeclaims]\n[edgeclaims.replay]\nstore = "off"\n[[edgeclaims.sources]]\n'
        f'type = "oauth2-proxy"\nsignature_key_env = "GAP_KEY"\nsigned_headers = [{signed}]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GAP_KEY", VECTOR_KEY)
    body = tmp_path / "body.json"
    body.write_bytes(VECTOR_BODY)
    argv = ["verify", "--config", str(config), "--method", VECTOR["method"]]
    argv += ["--url", f"http://{HOST}{VECTOR['target']}"]
    for name, value in [*VECTOR_HEADERS, ("GAP-Signature", VECTOR["signature"])]:
        argv += ["-H", f"{name}: {value}"]
    assert main([*argv, "--body", f"@{body}"]) == 0
    assert "mbland" in capsys.readouterr().out
    # Without the body (or with another one) the signature cannot verify: said so, with a hint.
    assert main(argv) == 1
    refused = capsys.readouterr().out
    assert "bad_signature" in refused
    assert "hint:" in refused
    assert main([*argv, "--body", VECTOR["body"] + " "]) == 1
    assert main([*argv, "--body", f"@{tmp_path / 'absent'}"]) == 2


# -- found in review ------------------------------------------------------------------------------


def _wire(text: str) -> str:
    """A header value as servers hand it on: its UTF-8 bytes read as latin-1."""
    return text.encode("utf-8").decode("latin-1")


def test_the_subject_is_the_signed_utf8_user_and_two_users_stay_two() -> None:
    # str.strip() on the latin-1 reading would eat \x85 and \xa0 — bytes of
    # "à" and "Å" in UTF-8 — and make both users 'adminÃ'.
    first = identity_of([("X-Forwarded-User", _wire("adminà"))])
    second = identity_of([("X-Forwarded-User", _wire("adminÅ"))])
    assert isinstance(first, tuple)
    assert isinstance(second, tuple)
    assert (first[0], second[0]) == ("adminà", "adminÅ")
    assert identity_of([("X-Forwarded-User", _wire(" josé\t"))])[0] == "josé"  # type: ignore[index]
    assert identity_of([("X-Forwarded-User", "\xe9t\xe9")]) == "malformed"  # latin-1, not UTF-8


@pytest.mark.parametrize("length", ["\u00b2", "\u0665", "1e3", "-1", "+5", "0x10"])
def test_a_content_length_that_is_not_ascii_digits_is_refused_not_raised(length: str) -> None:
    middleware = WSGIMiddleware(wsgi_app, mapping(), clock=lambda: NOW)
    request = vector_request()
    environ = wsgi_environ(request)
    environ["CONTENT_LENGTH"] = length
    statuses: list[str] = []
    out = b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
    assert statuses[0].startswith("401")
    assert json.loads(out)["code"] == "malformed"


def test_a_trickled_asgi_body_is_held_as_one_buffer_and_reaches_the_app_whole() -> None:
    request = vector_request()
    one_byte_each = [
        {"type": "http.request", "body": request.body[i : i + 1], "more_body": True}
        for i in range(len(request.body))
    ] + [{"type": "http.request", "body": b"", "more_body": False}]
    received: list[int] = []

    async def counting_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def counted() -> Any:
            message = await receive()
            received.append(len(message.get("body", b"")))
            return message

        await asgi_app(scope, counted, send)

    middleware = ASGIMiddleware(counting_app, mapping(), clock=lambda: NOW)
    status, answer = call_asgi(middleware, request, one_byte_each)
    assert status == 200
    assert answer["body"] == request.body.decode()
    assert answer["sub"] == "mbland"
    # One message of the whole body, not the server's messages kept one by one.
    assert received == [len(request.body)]


def test_without_content_length_the_wsgi_app_reads_only_what_was_verified() -> None:
    seen: list[bytes] = []

    def reading_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read())  # reads to the end, whatever PEP 3333 says
        start_response("200 OK", [])
        return [b""]

    headers = [("X-Forwarded-User", "alice")]
    signed = gap_signature("POST", "/pay", headers, b"", key=KEY)
    environ = build_wsgi_environ("POST", f"https://{HOST}/pay", {**dict(headers), **signed})
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(b'{"amount": 999999}')  # nobody signed these bytes
    config = {
        "sources": [{"type": "oauth2-proxy", "signature_key": KEY}],
        "replay": {"store": "off"},
    }
    statuses: list[str] = []
    middleware = WSGIMiddleware(reading_app, config, clock=lambda: NOW)
    b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
    assert statuses == ["200 OK"]
    assert seen == [b""]
