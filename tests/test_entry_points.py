"""The shared request table through the engine, the WSGI and the ASGI middleware.

Every entry point must give the same verdict with the same stable code.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tables import NOW, Case, cases, config_mapping

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config import load_config
from edgeclaims.engine import Engine
from edgeclaims.request import RequestView
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

CONFIG = load_config(config_mapping())
CASES = cases()


def _wsgi_headers(case: Case) -> dict[str, str]:
    # A WSGI server joins repeated header lines with ", " (waitress does).
    joined: dict[str, str] = {}
    for name, value in case.headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def verdict_engine(case: Case) -> tuple[str, Any]:
    engine = Engine(CONFIG, clock=lambda: NOW)
    view = RequestView.from_asgi(build_asgi_scope(case.method, case.url, case.headers))
    outcome = engine.decide(view)
    if outcome.refusal:
        return outcome.refusal.code, None
    return ("ok" if outcome.identity else "anonymous"), outcome.identity


def verdict_wsgi(case: Case) -> tuple[str, Any]:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen["environ"] = dict(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    middleware = WSGIMiddleware(app, CONFIG, clock=lambda: NOW)
    statuses: list[str] = []
    body = b"".join(
        middleware(
            build_wsgi_environ(case.method, case.url, _wsgi_headers(case)),
            lambda status, headers, exc_info=None: statuses.append(status),
        )
    )
    if "environ" not in seen:
        problem = json.loads(body)
        assert statuses[0].startswith(str(problem["status"]))
        return problem["code"], None
    environ = seen["environ"]
    # The raw identity headers never reach the app.
    assert not [
        k for k in environ if k in ("HTTP_X_EDGE_CLAIMS", "HTTP_SIGNATURE", "HTTP_SIGNATURE_INPUT")
    ]
    identity = environ["edgeclaims.identity"]
    return ("ok" if identity else "anonymous"), identity


def verdict_asgi(case: Case) -> tuple[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["scope"] = scope
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})

    middleware = ASGIMiddleware(app, CONFIG, clock=lambda: NOW)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(build_asgi_scope(case.method, case.url, case.headers), receive, send))
    if "scope" not in seen:
        problem = json.loads(sent[1]["body"])
        assert sent[0]["status"] == problem["status"]
        assert (b"content-type", b"application/problem+json") in sent[0]["headers"]
        return problem["code"], None
    scope = seen["scope"]
    names = {name.replace(b"_", b"-") for name, _ in scope["headers"]}
    assert not names & {b"x-edge-claims", b"signature", b"signature-input"}
    identity = scope["edgeclaims.identity"]
    return ("ok" if identity else "anonymous"), identity


ENTRY_POINTS = {"engine": verdict_engine, "wsgi": verdict_wsgi, "asgi": verdict_asgi}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_table(case: Case, entry: str) -> None:
    if entry in case.not_for:
        pytest.skip(case.not_for[entry])
    code, identity = ENTRY_POINTS[entry](case)
    assert code == case.expect
    if code == "ok":
        assert identity.subject in ("alice", "root")
        assert identity.source == "rfc9421"


def test_identity_carries_roles_and_read_only_claims() -> None:
    case = next(c for c in CASES if c.id == "valid-admin")
    _, identity = verdict_wsgi(case)
    assert identity.has_role("admin")
    assert identity.key_id == "2026-11"
    with pytest.raises(TypeError):
        identity.claims["sub"] = "mallory"
    assert "okta-admins" not in repr(identity)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_replay_is_refused(entry: str) -> None:
    case = CASES[0]
    engine = Engine(CONFIG, clock=lambda: NOW)
    if entry == "engine":
        views = [RequestView.from_asgi(build_asgi_scope(case.method, case.url, case.headers))] * 2
        codes = [engine.decide(v).code for v in views]
    else:
        codes = [_run_with_engine(entry, engine, case) for _ in range(2)]
    assert codes == [None, "replayed"]


def _run_with_engine(entry: str, engine: Engine, case: Case) -> str | None:
    statuses: list[Any] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    if entry == "wsgi":
        body = b"".join(
            WSGIMiddleware(app, engine=engine)(
                build_wsgi_environ(case.method, case.url, _wsgi_headers(case)),
                lambda s, h, e=None: statuses.append(s),
            )
        )
        return None if statuses[0].startswith("200") else json.loads(body)["code"]

    async def send(message: dict[str, Any]) -> None:
        statuses.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    asyncio.run(
        ASGIMiddleware(asgi_app, engine=engine)(
            build_asgi_scope(case.method, case.url, case.headers), receive, send
        )
    )
    if statuses[0]["status"] == 200:
        return None
    return str(json.loads(statuses[1]["body"])["code"])
