"""The WSGI and ASGI middleware beyond the shared table: websockets, lifespan, refusals."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tables import ADMIN, HMAC_SECRET, NOW, VIEWER, config_mapping, signed

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config import load_config
from edgeclaims.errors import ConfigurationError
from edgeclaims.testing import EdgeSigner, build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

URL = "https://app.example.com/whoami"


def test_problem_body_carries_nothing_from_the_request() -> None:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise AssertionError("not reached")

    headers = dict(signed())
    headers["X-Edge-Claims"] = "<script>alert(1)</script>"
    out: list[Any] = []
    body = b"".join(
        WSGIMiddleware(app, load_config(config_mapping()), clock=lambda: NOW)(
            build_wsgi_environ("GET", URL, headers), lambda s, h, e=None: out.append((s, h))
        )
    )
    assert out[0][0] == "401 Unauthorized"
    assert ("Content-Type", "application/problem+json") in out[0][1]
    problem = json.loads(body)
    assert set(problem) == {"type", "title", "status", "code"}
    assert b"script" not in body


def _run_asgi(
    app: Any, scope: dict[str, Any], incoming: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    queue = list(incoming or [])

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "websocket.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _ws_scope(
    headers: list[tuple[str, str]], extensions: dict[str, Any] | None = None
) -> dict[str, Any]:
    scope = build_asgi_scope("GET", "https://app.example.com/ws", headers)
    scope.update(type="websocket", scheme="wss", subprotocols=[], extensions=extensions or {})
    scope.pop("method")
    return scope


async def _ws_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "websocket.accept"})
    identity = scope["edgeclaims.identity"]
    await send({"type": "websocket.send", "text": identity.subject})
    await send({"type": "websocket.close", "code": 1000})


def test_websocket_handshake_is_verified() -> None:
    app = ASGIMiddleware(_ws_app, load_config(config_mapping()), clock=lambda: NOW)
    signer = EdgeSigner.for_config(load_config(config_mapping()), clock=lambda: NOW)
    headers = list(signer.headers("GET", "https://app.example.com/ws", VIEWER, nonce="ws").items())
    sent = _run_asgi(app, _ws_scope(headers))
    assert sent[1] == {"type": "websocket.send", "text": "alice"}
    refused = _run_asgi(app, _ws_scope([]))
    assert refused == [{"type": "websocket.close", "code": 1008, "reason": "missing"}]
    with_denial = _run_asgi(app, _ws_scope([], {"websocket.http.response": {}}))
    assert with_denial[0]["type"] == "websocket.http.response.start"
    assert with_denial[0]["status"] == 401
    assert json.loads(with_denial[1]["body"])["code"] == "missing"


def test_lifespan_passes_through() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        message = await receive()
        seen.append(message["type"])
        await send({"type": "lifespan.startup.complete"})

    sent = _run_asgi(
        ASGIMiddleware(app, load_config(config_mapping())),
        {"type": "lifespan"},
        [{"type": "lifespan.startup"}],
    )
    assert seen == ["lifespan", "lifespan.startup"]
    assert sent == [{"type": "lifespan.startup.complete"}]


def test_starlette_user_and_auth_are_filled() -> None:
    pytest.importorskip("starlette")
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = ASGIMiddleware(app, load_config(config_mapping()), clock=lambda: NOW)
    _run_asgi(
        middleware,
        build_asgi_scope(
            "GET", "https://app.example.com/admin/x", signed(path="/admin/x", claims=ADMIN)
        ),
    )
    assert seen["user"].is_authenticated
    assert seen["user"].display_name == "root"
    assert {"authenticated", "admin"} <= set(seen["auth"].scopes)
    _run_asgi(middleware, build_asgi_scope("GET", "https://app.example.com/healthz", []))
    assert not seen["user"].is_authenticated


def test_middleware_reads_edgeclaims_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("EDGECLAIMS_CONFIG", raising=False)
    with pytest.raises(ConfigurationError, match="EDGECLAIMS_CONFIG"):
        WSGIMiddleware(lambda e, s: [])
    path = tmp_path / "edgeclaims.toml"
    path.write_text(
        f'[edgeclaims]\n[[edgeclaims.sources]]\ntype = "rfc9421"\n'
        f'keys = [{{ id = "2026-11", alg = "hmac-sha256", secret = "hex:{HMAC_SECRET.hex()}" }}]\n'
    )
    monkeypatch.setenv("EDGECLAIMS_CONFIG", str(path))
    assert WSGIMiddleware(lambda e, s: []).engine.config.sources[0].name == "rfc9421"
    assert ASGIMiddleware(_ws_app).engine.config.sources[0].name == "rfc9421"


@pytest.mark.parametrize(
    ("path", "signed_path", "status", "challenge"),
    [
        pytest.param("/whoami", None, 401, 'EdgeClaims realm="edgeclaims"', id="missing"),
        pytest.param(
            "/whoami",
            "/elsewhere",
            401,
            'EdgeClaims realm="edgeclaims", error="bad_signature"',
            id="refused",
        ),
        pytest.param("/admin/users", "/admin/users", 403, None, id="forbidden"),
        pytest.param("/admin/../x", None, 400, None, id="ambiguous-request"),
    ],
)
@pytest.mark.parametrize("entry", ["wsgi", "asgi"])
def test_refusals_carry_the_challenge_rfc_9110_requires(
    entry: str, path: str, signed_path: str | None, status: int, challenge: str | None
) -> None:
    config = load_config(config_mapping())
    headers = dict(signed(path=signed_path)) if signed_path else {}
    url = "https://app.example.com" + path
    if entry == "wsgi":
        seen: list[Any] = []
        middleware = WSGIMiddleware(lambda e, s: [], config, clock=lambda: NOW)
        middleware(build_wsgi_environ("GET", url, headers), lambda s, h: seen.extend([s, h]))
        got_status, lines = int(seen[0].split()[0]), seen[1]
    else:
        messages = _run_asgi(
            ASGIMiddleware(_ws_app, config, clock=lambda: NOW),
            build_asgi_scope("GET", url, headers),
        )
        got_status = messages[0]["status"]
        lines = [(n.decode(), v.decode()) for n, v in messages[0]["headers"]]
    found = [v for n, v in lines if n.lower() == "www-authenticate"]
    assert (got_status, found) == (status, [challenge] if challenge else [])
