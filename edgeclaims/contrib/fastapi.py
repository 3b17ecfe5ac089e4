"""FastAPI (and Starlette): dependencies reading what the ASGI middleware attached.

    from fastapi import Depends, FastAPI
    from edgeclaims.contrib.fastapi import (
        CurrentIdentity, get_identity, require_roles, setup_edgeclaims,
    )

    app = FastAPI()
    setup_edgeclaims(app)                       # middleware + problem+json refusals

    @app.get("/whoami")
    async def whoami(identity: CurrentIdentity):
        return {"sub": identity.subject}

    @app.get("/admin", dependencies=[Depends(require_roles("admin"))])
    async def admin(): ...

Nothing here verifies: the dependencies read ``scope["edgeclaims.identity"]``,
which :class:`edgeclaims.asgi.EdgeClaimsMiddleware` sets (it also sets
``scope["user"]`` and ``scope["auth"]``, so Starlette's ``requires`` and
``request.user`` work). Without that middleware every dependency raises
:class:`~edgeclaims.errors.ConfigurationError` — a loud 500, never a silent
anonymous. The dependencies take an ``HTTPConnection``, so they serve
websocket routes as well.

Refusals: 401 ``missing`` when anonymous, 403 ``forbidden`` when lacking, as
:class:`IdentityRefused` (a Starlette ``HTTPException``) on http routes —
rendered as the middleware's ``application/problem+json`` document by the
handler :func:`setup_edgeclaims` installs, or by any handler the app
registers for ``IdentityRefused`` — and as a websocket close with code 1008
and the code as reason on websocket routes, as the middleware does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, NoReturn

from fastapi import Depends, FastAPI
from fastapi.openapi.models import APIKey, APIKeyIn
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from edgeclaims.asgi import WS_POLICY_VIOLATION, EdgeClaimsMiddleware
from edgeclaims.config import Config
from edgeclaims.contrib import Requirement, renamed
from edgeclaims.engine import Engine
from edgeclaims.errors import ConfigurationError, MissingIdentity, VerificationError
from edgeclaims.handoff import IDENTITY_KEY, OUTCOME_KEY
from edgeclaims.identity import Identity
from edgeclaims.logs import log_view_refusal
from edgeclaims.problem import render_refusal

__all__ = [
    "EDGE_SCHEME",
    "CurrentIdentity",
    "EdgeClaimsScheme",
    "IdentityRefused",
    "OptionalIdentity",
    "get_identity",
    "refusal_handler",
    "require_identity",
    "require_permissions",
    "require_roles",
    "setup_edgeclaims",
]


class IdentityRefused(HTTPException):
    """A refusal by a dependency; ``error`` is the ``VerificationError`` (``.code``)."""

    def __init__(self, error: VerificationError) -> None:
        super().__init__(status_code=error.status, detail=error.title)
        self.error = error


def _refuse(
    connection: HTTPConnection, error: VerificationError, identity: Identity | None
) -> NoReturn:
    log_view_refusal(
        error, identity, method=connection.scope.get("method", "GET"), path=connection.url.path
    )
    if connection.scope["type"] == "websocket":
        raise WebSocketException(code=WS_POLICY_VIOLATION, reason=error.code)
    raise IdentityRefused(error)


async def get_identity(connection: HTTPConnection) -> Identity | None:
    """The verified identity, or None when anonymous (a public route).

    Raises ``ConfigurationError`` when the edgeclaims ASGI middleware did not
    run for this request.
    """
    if OUTCOME_KEY not in connection.scope:
        raise ConfigurationError(
            "middleware",
            "no edgeclaims outcome on this request: add edgeclaims.asgi.EdgeClaimsMiddleware "
            "to the app (setup_edgeclaims(app) does) before using the edgeclaims dependencies",
        )
    identity = connection.scope.get(IDENTITY_KEY)
    return identity if isinstance(identity, Identity) else None


class EdgeClaimsScheme(SecurityBase):
    """The edge's signed identity headers as an OpenAPI security scheme.

    Routes guarded by the edgeclaims dependencies list it (the lock icon in
    ``/docs``, and generated clients that know the route needs credentials).
    It describes the headers; it verifies nothing — the middleware did.
    """

    def __init__(self, header: str = "X-Edge-Claims") -> None:
        self.model = APIKey(
            **{"in": APIKeyIn.header},  # type: ignore[arg-type]
            name=header,
            description=(
                "Set by the CDN edge, signed (RFC 9421 with Signature-Input and "
                "Signature, or a JWS): a client cannot produce it, only the edge can."
            ),
        )
        self.scheme_name = "EdgeClaims"

    async def __call__(self, connection: HTTPConnection) -> None:
        return None


#: The scheme every edgeclaims dependency declares.
EDGE_SCHEME = EdgeClaimsScheme()


class _Guard(EdgeClaimsScheme):
    """A dependency that is the security scheme itself, as FastAPI's ``OAuth2PasswordBearer`` is.

    FastAPI lists the scheme on every operation that depends on it, and
    resolves one dependency a request rather than the guard plus a separate
    scheme (measured: a second dependency costs a FastAPI request about as
    much as the first).
    """

    def __init__(self, requirement: Requirement) -> None:
        super().__init__()
        self.requirement = requirement

    async def __call__(self, connection: HTTPConnection) -> Identity:  # type: ignore[override]
        identity = await get_identity(connection)
        error = self.requirement.refusal(identity)
        if error is not None or identity is None:
            _refuse(connection, error or MissingIdentity(), identity)
        return identity


#: The verified identity; 401 (``missing``) when anonymous.
require_identity: Callable[[HTTPConnection], Awaitable[Identity]] = _Guard(Requirement())


def require_roles(
    *roles: str, match: str = "all"
) -> Callable[[HTTPConnection], Awaitable[Identity]]:
    """A dependency needing these roles; it returns the identity.

    401 when anonymous, 403 (``forbidden``) when lacking; ``match = "all"``
    (default) needs every role, ``"any"`` one of them.
    """
    return _Guard(Requirement.build(roles=roles, match=match, name="require_roles"))


def require_permissions(
    *permissions: str, match: str = "all"
) -> Callable[[HTTPConnection], Awaitable[Identity]]:
    """A dependency needing these edgeclaims permissions; it returns the identity."""
    return _Guard(
        Requirement.build(permissions=permissions, match=match, name="require_permissions")
    )


#: ``identity: CurrentIdentity`` — the verified identity, 401 when anonymous.
CurrentIdentity = Annotated[Identity, Depends(require_identity)]
#: ``identity: OptionalIdentity`` — the verified identity or None.
OptionalIdentity = Annotated[Identity | None, Depends(get_identity)]


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """Exception handler rendering :class:`IdentityRefused` as the problem document."""
    if not isinstance(exc, IdentityRefused):
        raise exc
    status, lines, body = render_refusal(exc.error)
    headers = {n: v for n, v in lines if n not in ("Content-Type", "Content-Length")}
    return Response(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


# The old name clashed with contrib.django's problem_response (a response).
__getattr__ = renamed(__name__, {"problem_response": lambda: refusal_handler})


def setup_edgeclaims(
    app: FastAPI,
    config: Config | Mapping[str, object] | str | None = None,
    *,
    clock: Callable[[], float] = time.time,
    engine: Engine | None = None,
    public_docs: bool = False,
) -> None:
    """Add the edgeclaims ASGI middleware and the problem+json handler to ``app``.

    The same as ``app.add_middleware(EdgeClaimsMiddleware, config=config)``
    plus ``app.add_exception_handler(IdentityRefused, refusal_handler)``, and
    an OpenAPI document whose guarded operations list their 401 and 403
    problem responses. ``config`` defaults to ``EDGECLAIMS_CONFIG``; a
    ``ConfigurationError`` is raised here, at start-up.

    ``public_docs = True`` makes the app's own ``/docs``, ``/redoc``, their
    OAuth2 redirect and ``/openapi.json`` (wherever ``app`` puts them) public
    routes, ahead of every configured rule.

    **Security:** the OpenAPI document then describes every route to anyone;
    an identity header sent to those paths is still verified.
    """
    if engine is None:
        engine = Engine(config, clock=clock)
    if public_docs:
        paths = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
        engine = engine.with_public_routes(tuple(p for p in paths if p))
    app.add_middleware(EdgeClaimsMiddleware, engine=engine)
    app.add_exception_handler(IdentityRefused, refusal_handler)
    _document_refusals(app)


_PROBLEM = {"$ref": "#/components/schemas/EdgeClaimsProblem"}
_PROBLEM_SCHEMA = {
    "title": "EdgeClaimsProblem",
    "type": "object",
    "description": "RFC 9457 problem document; code is edgeclaims' stable refusal code.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
    },
    "required": ["type", "title", "status", "code"],
}


def _document_refusals(app: FastAPI) -> None:
    """List 401 and 403 on every operation that declares the edgeclaims scheme."""
    build = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        guarded = False
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                if not isinstance(operation, dict):
                    continue
                security = operation.get("security", [])
                if not any(EDGE_SCHEME.scheme_name in entry for entry in security):
                    continue
                guarded = True
                responses = operation.setdefault("responses", {})
                for status, text in (("401", "No identity, or one refused"), ("403", "Lacking")):
                    responses.setdefault(
                        status,
                        {
                            "description": text,
                            "content": {"application/problem+json": {"schema": _PROBLEM}},
                        },
                    )
        if guarded:
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("EdgeClaimsProblem", _PROBLEM_SCHEMA)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
