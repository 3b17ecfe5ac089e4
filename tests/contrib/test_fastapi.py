"""FastAPI / Starlette: the shared tables via httpx against the ASGI app and over a real
uvicorn, the dependencies on http and websocket routes, and Starlette's ``requires``.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from contrib_tables import (
    CONTRIB_CONFIG,
    Privilege,
    contrib_mapping,
    describe,
    engine_code,
    framework,
    privilege_headers,
    verdict,
)

fastapi = framework("fastapi")
httpx = framework("httpx")

from fastapi import Depends, FastAPI, Request, WebSocket  # noqa: E402
from servers import request as raw_request  # noqa: E402
from servers import uvicorn_server  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.authentication import requires  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect  # noqa: E402
from tables import ADMIN, NOW, ORIGIN, VIEWER, Case, signed  # noqa: E402

from edgeclaims.asgi import EdgeClaimsMiddleware  # noqa: E402
from edgeclaims.config import Config, load_config  # noqa: E402
from edgeclaims.contrib.fastapi import (  # noqa: E402
    CurrentIdentity,
    EdgeClaimsScheme,
    IdentityRefused,
    OptionalIdentity,
    get_identity,
    require_identity,
    require_permissions,
    require_roles,
    setup_edgeclaims,
)
from edgeclaims.errors import ConfigurationError  # noqa: E402
from edgeclaims.identity import Identity  # noqa: E402

TESTSERVER = "http://testserver"


def echo(request: Request, identity: Identity | None) -> dict[str, Any]:
    return describe(identity, list(request.headers.keys()))


def make_app(config: Config = CONTRIB_CONFIG, *, middleware: bool = True) -> FastAPI:
    app = FastAPI()
    if middleware:
        setup_edgeclaims(app, config, clock=lambda: NOW)

    @app.get("/open/roles-admin")
    async def roles_admin(
        request: Request, identity: Identity = Depends(require_roles("admin"))
    ) -> dict[str, Any]:
        return echo(request, identity)

    @app.get("/open/any-role")
    async def any_role(
        request: Request,
        identity: Identity = Depends(require_roles("admin", "auditor", match="any")),
    ) -> dict[str, Any]:
        return echo(request, identity)

    @app.get("/open/perm-read")
    async def perm_read(
        request: Request, identity: Identity = Depends(require_permissions("orders:read"))
    ) -> dict[str, Any]:
        return echo(request, identity)

    @app.get("/open/perm-write")
    def perm_write(
        request: Request, identity: Identity = Depends(require_permissions("orders:write"))
    ) -> dict[str, Any]:
        return echo(request, identity)

    @app.get("/open/identity")
    async def identity_view(request: Request, identity: CurrentIdentity) -> dict[str, Any]:
        return echo(request, identity)

    @app.get("/open/user")
    async def user(request: Request) -> dict[str, Any]:
        return {"authenticated": request.user.is_authenticated, "scopes": request.auth.scopes}

    @app.get("/open/admin-by-requires")
    @requires("admin")
    async def admin_by_requires(request: Request) -> dict[str, Any]:
        return {"sub": request.user.display_name}

    @app.websocket("/open/ws-admin")
    async def ws_admin(
        websocket: WebSocket, identity: Identity = Depends(require_roles("admin"))
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": identity.subject})
        await websocket.close()

    @app.websocket("/ws/whoami")
    async def ws_whoami(websocket: WebSocket, identity: OptionalIdentity) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": identity.subject if identity else None})
        await websocket.close()

    @app.api_route("/{rest:path}", methods=["GET", "POST"])
    async def catch_all(request: Request, identity: OptionalIdentity) -> dict[str, Any]:
        return echo(request, identity)

    return app


async def _send(app: FastAPI, method: str, url: str, headers: Any) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.request(method, url, headers=headers)
    return response.status_code, response.json()


def send(app: FastAPI, method: str, url: str, headers: Any) -> tuple[int, dict[str, Any]]:
    return asyncio.run(_send(app, method, url, headers))


# -- the shared tables ---------------------------------------------------------


def test_table_via_httpx(table_case: Case) -> None:
    table_case.skip_for("httpx", "no-body")
    result = send(make_app(), table_case.method, table_case.url, table_case.headers)
    assert verdict(*result) == engine_code(table_case) == table_case.expect


#: One server for the whole table: nonces repeat across rows, so no replay store
#: (replay has its own tests); the engine is asked with the same configuration.
UVICORN_CONFIG = load_config(contrib_mapping(replay={"store": "off"}))


@pytest.fixture(scope="module")
def uvicorn_port() -> Iterator[int]:
    with uvicorn_server(make_app(UVICORN_CONFIG)) as port:
        yield port


def test_table_over_uvicorn(table_case: Case, uvicorn_port: int) -> None:
    table_case.skip_for("http", "no-body")
    parts = urlsplit(table_case.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    status, body = raw_request(
        uvicorn_port, table_case.method, target, table_case.headers, host=parts.netloc
    )
    assert verdict(status, body) == engine_code(table_case, UVICORN_CONFIG) == table_case.expect


def test_privileges(privilege_case: Privilege) -> None:
    headers = privilege_headers(privilege_case, TESTSERVER)
    status, body = send(make_app(), "GET", TESTSERVER + privilege_case.path, headers)
    assert verdict(status, body) == privilege_case.expect


def test_privileges_over_uvicorn(privilege_case: Privilege, uvicorn_port: int) -> None:
    headers = privilege_headers(privilege_case, TESTSERVER, UVICORN_CONFIG)
    status, body = raw_request(
        uvicorn_port, "GET", privilege_case.path, list(headers.items()), host="testserver"
    )
    assert verdict(status, body) == privilege_case.expect


# -- websockets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "expect"),
    [(None, "missing"), (VIEWER, "forbidden"), (ADMIN, "root")],
    ids=["anonymous", "viewer", "admin"],
)
def test_websocket_dependency(claims: dict[str, object] | None, expect: str) -> None:
    headers = privilege_headers(Privilege("", "/open/ws-admin", claims, ""), TESTSERVER)
    client = TestClient(make_app())
    if expect == "root":
        with client.websocket_connect("/open/ws-admin", headers=headers) as websocket:
            assert websocket.receive_json() == {"sub": "root"}
        return
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/open/ws-admin", headers=headers),
    ):
        pass
    assert (closed.value.code, closed.value.reason) == (1008, expect)


def test_websocket_identity_and_middleware_refusal() -> None:
    client = TestClient(make_app())
    path = "/ws/whoami"
    headers = privilege_headers(Privilege("", path, VIEWER, ""), TESTSERVER)
    with client.websocket_connect(path, headers=headers) as websocket:
        assert websocket.receive_json() == {"sub": "alice"}
    # Not public: the middleware itself refuses the anonymous handshake, with
    # the problem document where the server supports denial responses.
    with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect(path):
        pass
    assert (refused.value.status_code, refused.value.json()["code"]) == (401, "missing")


# -- Starlette's shapes ----------------------------------------------------------


def test_request_user_and_auth_for_starlette() -> None:
    app = make_app()
    path = "/open/user"
    anonymous = send(app, "GET", TESTSERVER + path, {})
    admin_headers = privilege_headers(Privilege("", path, ADMIN, ""), TESTSERVER)
    admin = send(app, "GET", TESTSERVER + path, admin_headers)
    assert anonymous == (200, {"authenticated": False, "scopes": []})
    assert admin == (200, {"authenticated": True, "scopes": ["authenticated", "admin", "staff"]})


@pytest.mark.parametrize(
    ("claims", "status"),
    [(ADMIN, 200), (VIEWER, 403), (None, 403)],
    ids=["admin", "viewer", "anonymous"],
)
def test_starlette_requires(claims: dict[str, object] | None, status: int) -> None:
    path = "/open/admin-by-requires"
    headers = privilege_headers(Privilege("", path, claims, ""), TESTSERVER)
    result = send(make_app(), "GET", TESTSERVER + path, headers)
    assert result[0] == status
    if status == 200:
        assert result[1] == {"sub": "root"}


def test_plain_starlette_app() -> None:
    @requires("admin")
    async def admin(request: Any) -> JSONResponse:
        identity = await require_roles("admin")(request)
        return JSONResponse({"sub": identity.subject, "user": request.user.display_name})

    app = Starlette(routes=[Route("/open/admin", admin)])
    wrapped = EdgeClaimsMiddleware(app, CONTRIB_CONFIG, clock=lambda: NOW)
    headers = privilege_headers(Privilege("", "/open/admin", ADMIN, ""), TESTSERVER)
    response = TestClient(wrapped).get("/open/admin", headers=headers)
    assert response.json() == {"sub": "root", "user": "root"}


# -- errors and set-up -------------------------------------------------------------


def test_dependencies_without_the_middleware_are_a_loud_error() -> None:
    client = TestClient(make_app(middleware=False))
    with pytest.raises(ConfigurationError, match="EdgeClaimsMiddleware"):
        client.get("/open/identity")
    with pytest.raises(ConfigurationError):
        client.get("/whoami")


def test_refusals_can_be_customised() -> None:
    app = make_app()

    @app.exception_handler(IdentityRefused)
    async def refused(request: Request, exc: IdentityRefused) -> JSONResponse:
        return JSONResponse({"please": "sign in", "why": exc.error.code}, exc.status_code)

    status, body = send(app, "GET", TESTSERVER + "/open/identity", {})
    assert (status, body) == (401, {"please": "sign in", "why": "missing"})


def test_without_the_problem_handler_fastapi_renders_its_usual_detail() -> None:
    app = FastAPI()
    app.add_middleware(EdgeClaimsMiddleware, config=CONTRIB_CONFIG, clock=lambda: NOW)

    @app.get("/open/admin")
    async def admin(identity: Identity = Depends(require_roles("admin"))) -> str:
        return identity.subject

    status, body = send(app, "GET", TESTSERVER + "/open/admin", {})
    assert (status, body) == (401, {"detail": "No identity header"})


def test_problem_document_and_content_type() -> None:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_app())
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.get(TESTSERVER + "/open/identity")

    response = asyncio.run(call())
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["code"] == "missing"


def test_dependency_results() -> None:
    # The guard is the security scheme itself: one dependency a request, and
    # FastAPI lists the scheme on the operation from it.
    assert isinstance(require_identity, EdgeClaimsScheme)
    assert isinstance(require_roles("admin"), EdgeClaimsScheme)
    app = FastAPI()

    @app.get("/guarded")
    async def guarded(identity: CurrentIdentity) -> str:
        return identity.subject

    (route,) = [r for r in app.routes if getattr(r, "path", "") == "/guarded"]
    (dependency,) = route.dependant.dependencies  # type: ignore[attr-defined]
    assert dependency.call is require_identity
    assert dependency.dependencies == []
    assert callable(get_identity)
    with pytest.raises(TypeError):
        require_roles(require_roles)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="match"):
        require_permissions("orders:read", match="most")


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
        pytest.param(
            "/open/roles-admin", None, 401, 'EdgeClaims realm="edgeclaims"', id="dependency"
        ),
    ],
)
def test_refusals_carry_the_challenge_rfc_9110_requires(
    path: str, signed_path: str | None, status: int, challenge: str | None
) -> None:
    headers = dict(signed(path=signed_path)) if signed_path else {}
    client = TestClient(make_app(), base_url=ORIGIN)
    response = client.get(path, headers=headers)
    assert response.status_code == status
    assert response.headers.get("www-authenticate") == challenge


def test_a_role_name_the_policy_lacks_fails_loudly_at_first_use() -> None:
    app = FastAPI()
    setup_edgeclaims(app, CONTRIB_CONFIG, clock=lambda: NOW)

    @app.get("/open/typo", dependencies=[Depends(require_roles("amdin"))])
    async def typo() -> dict[str, str]:
        return {"never": "here"}

    headers = dict(signed(path="/open/typo", claims=ADMIN))
    with pytest.raises(ConfigurationError, match="require_roles: role 'amdin' not defined"):
        TestClient(app, base_url=ORIGIN).get("/open/typo", headers=headers)


def test_openapi_lists_the_scheme_and_the_refusals_of_guarded_routes() -> None:
    schema = TestClient(make_app(), base_url=ORIGIN).app.openapi()  # type: ignore[attr-defined]
    scheme = schema["components"]["securitySchemes"]["EdgeClaims"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Edge-Claims")
    guarded = schema["paths"]["/open/roles-admin"]["get"]
    assert guarded["security"] == [{"EdgeClaims": []}]
    assert {"401", "403"} <= set(guarded["responses"])
    problem = guarded["responses"]["401"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/EdgeClaimsProblem"}
    assert "EdgeClaimsProblem" in schema["components"]["schemas"]


@pytest.mark.parametrize("public_docs", [False, True])
def test_docs_are_public_only_when_asked(public_docs: bool) -> None:
    app = FastAPI()
    setup_edgeclaims(app, CONTRIB_CONFIG, clock=lambda: NOW, public_docs=public_docs)

    @app.get("/whoami")
    async def whoami(identity: CurrentIdentity) -> dict[str, str]:
        return {"sub": identity.subject}

    client = TestClient(app, base_url=ORIGIN)
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        response = client.get(path)
        assert response.status_code == (200 if public_docs else 401), path
    assert client.get("/whoami").status_code == 401  # the rest stays guarded
    forged = dict(signed(path="/openapi.json"))
    forged["X-Edge-Claims"] = forged["X-Edge-Claims"][:-2] + "AA"
    assert client.get("/openapi.json", headers=forged).status_code == 401  # still verified
