"""The shared table over real HTTP: waitress (WSGI) and uvicorn (ASGI) on loopback.

Requests go out with exactly the table's header lines, so each server's own
handling of repeated and underscore headers is part of the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from servers import asgi_echo_app, request, uvicorn_server, waitress_server, wsgi_echo_app
from tables import NOW, VIEWER, Case, cases, config_mapping, signed

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config import load_config
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

# Nonces repeat across table rows; replay has its own test below.
TABLE_CONFIG = load_config(config_mapping(replay={"store": "off"}))
CASES = cases()

#: waitress drops header names with underscores (reference/iis.md), so the
#: twin never reaches edgeclaims: the request is what the edge signed.
SERVER_OVERRIDES = {
    "waitress": {"underscore-claims-header": "ok", "underscore-only-claims-header": "missing"},
}


@pytest.fixture(scope="module")
def waitress_port() -> Iterator[int]:
    with waitress_server(WSGIMiddleware(wsgi_echo_app, TABLE_CONFIG, clock=lambda: NOW)) as port:
        yield port


@pytest.fixture(scope="module")
def uvicorn_port() -> Iterator[int]:
    with uvicorn_server(ASGIMiddleware(asgi_echo_app, TABLE_CONFIG, clock=lambda: NOW)) as port:
        yield port


def _send(port: int, case: Case) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(case.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return request(port, case.method, target, case.headers, host=parts.netloc)


@pytest.mark.parametrize("server", ["waitress", "uvicorn"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_table_over_http(case: Case, server: str, request: pytest.FixtureRequest) -> None:
    case.skip_for("http", "no-body")
    port = request.getfixturevalue(f"{server}_port")
    expected = SERVER_OVERRIDES.get(server, {}).get(case.id, case.expect)
    status, body = _send(port, case)
    if expected in ("ok", "anonymous"):
        assert status == 200, body
        assert (body["sub"] is not None) == (expected == "ok")
        assert body["saw_identity_headers"] == []
    else:
        assert body.get("code") == expected
        assert status == body["status"]


@pytest.mark.parametrize("server", ["waitress", "uvicorn"])
def test_replay_over_http(server: str) -> None:
    config = load_config(config_mapping())
    start = waitress_server if server == "waitress" else uvicorn_server
    app: Any = (
        WSGIMiddleware(wsgi_echo_app, config, clock=lambda: NOW)
        if server == "waitress"
        else ASGIMiddleware(asgi_echo_app, config, clock=lambda: NOW)
    )
    headers = signed(claims=VIEWER, nonce=f"replay-{server}")
    with start(app) as port:
        first = request(port, "GET", "/whoami", headers, host="app.example.com")
        second = request(port, "GET", "/whoami", headers, host="app.example.com")
    assert (first[0], first[1]["sub"]) == (200, "alice")
    assert (second[0], second[1]["code"]) == (401, "replayed")
