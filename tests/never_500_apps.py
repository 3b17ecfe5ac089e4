"""The framework apps of tests/test_never_500.py: Flask, Django (WSGI and ASGI), FastAPI.

Each app is wired the documented way (``EdgeClaims(app)``, the Django
middleware first in ``MIDDLEWARE``, ``setup_edgeclaims(app)``) around one
engine the test hands in (its clock frozen), and has the same views:

=====================  ====================================================
``/open/roles-admin``  ``roles_required("admin")``
``/open/any-role``     ``roles_required("admin", "auditor", match="any")``
``/open/perm-read``    ``permissions_required("orders:read")``
``/open/perm-write``   ``permissions_required("orders:write")``
``/open/identity``     ``identity_required`` (FastAPI: ``CurrentIdentity``)
``/open/async-admin``  an async view behind ``roles_required("admin")``
``/open/cbv-admin``    Django: ``RolesRequiredMixin``
anything else          the echo view, for every method the framework allows
websocket ``/ws/*``    FastAPI: ``OptionalIdentity``; ``/ws/admin`` ``require_roles``
=====================  ====================================================

Every view reads each claim of its identity, as views do, and answers
with ``X-Never500-App: yes`` and, in its JSON body, the names of the
headers it could read (no raw identity header may be among them).

Django's settings are the framework tests' project (tests/contrib/django_project),
as routing_apps/django_app.py does: the handlers are built under
``override_settings`` with this module's middleware list, and a second
middleware points each request at this module's ``urlpatterns``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from unittest import mock

TESTS = Path(__file__).resolve().parent
if str(TESTS / "contrib") not in sys.path:  # django_project and the contrib_tables it reads
    sys.path.insert(0, str(TESTS / "contrib"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")

import django  # noqa: E402

django.setup()

from asgiref.sync import iscoroutinefunction  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.signals import got_request_exception  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from django.utils.decorators import sync_and_async_middleware  # noqa: E402
from django.views import View  # noqa: E402
from fastapi import Depends, FastAPI, Request, WebSocket  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from flask import Flask  # noqa: E402
from flask import request as flask_request  # noqa: E402
from never_500_support import read_claims  # noqa: E402

from edgeclaims.contrib import flask as flask_contrib  # noqa: E402
from edgeclaims.contrib.django import decorators as django_decorators  # noqa: E402
from edgeclaims.contrib.django.middleware import EdgeClaimsMiddleware  # noqa: E402
from edgeclaims.contrib.django.mixins import RolesRequiredMixin  # noqa: E402
from edgeclaims.contrib.fastapi import (  # noqa: E402
    CurrentIdentity,
    OptionalIdentity,
    require_permissions,
    require_roles,
    setup_edgeclaims,
)
from edgeclaims.contrib.flask import (  # noqa: E402
    EdgeClaims,
    current_identity,
    identity_required,
    roles_required,
)
from edgeclaims.engine import Engine  # noqa: E402
from edgeclaims.identity import Identity  # noqa: E402

__all__ = [
    "APP_MARKER",
    "DJANGO_EXCEPTIONS",
    "make_django_asgi",
    "make_django_wsgi",
    "make_fastapi_app",
    "make_flask_app",
]

APP_MARKER = "X-Never500-App"


def _renamed(module: Any, name: str, old: str) -> Any:
    """``name``, or ``old`` where the rename (permission_ → permissions_required) has not landed."""
    found = getattr(module, name, None)
    return found if found is not None else getattr(module, old)


flask_permissions_required = _renamed(flask_contrib, "permissions_required", "permission_required")
django_permissions_required = _renamed(
    django_decorators, "permissions_required", "permission_required"
)
#: Methods the catch-all views answer (others: the framework's own 405).
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"]


def _describe(identity: Identity | None, names: Iterable[str]) -> dict[str, Any]:
    """What every view answers: who, how many claims (views read them), and every header name."""
    return {
        "sub": identity.subject if identity else None,
        "roles": sorted(identity.roles) if identity else [],
        "claims": read_claims(identity),
        "headers": sorted(set(names)),
    }


# -- Flask ------------------------------------------------------------------------------


def make_flask_app(engine: Engine) -> Flask:
    """Flask with ``EdgeClaims(app)``; exceptions propagate (no silent 500 page)."""
    app = Flask("never_500")
    app.config["PROPAGATE_EXCEPTIONS"] = True
    EdgeClaims(app, engine=engine)

    def echo(**_: Any) -> tuple[dict[str, Any], int, dict[str, str]]:
        identity = current_identity if current_identity else None
        names = [k for k in flask_request.environ if k.startswith("HTTP_")]
        return _describe(identity, names), 200, {APP_MARKER: "yes"}

    guarded: dict[str, Callable[..., Any]] = {
        "/open/roles-admin": roles_required("admin")(echo),
        "/open/any-role": roles_required("admin", "auditor", match="any")(echo),
        "/open/perm-read": flask_permissions_required("orders:read")(echo),
        "/open/perm-write": flask_permissions_required("orders:write")(echo),
        "/open/identity": identity_required(echo),
    }
    for rule, view in guarded.items():
        app.add_url_rule(rule, rule, view, methods=["GET", "POST"])

    @app.get("/open/async-admin")
    @roles_required("admin")
    async def async_admin() -> tuple[dict[str, Any], int, dict[str, str]]:
        return echo()

    app.add_url_rule("/", "root", echo, methods=METHODS)
    app.add_url_rule("/<path:rest>", "catch_all", echo, methods=METHODS)
    return app


# -- Django -----------------------------------------------------------------------------

#: Tracebacks of exceptions Django turned into a 500 (``got_request_exception``).
DJANGO_EXCEPTIONS: list[str] = []


def _record_exception(sender: Any, request: Any = None, **kwargs: Any) -> None:
    DJANGO_EXCEPTIONS.append(traceback.format_exc())


got_request_exception.connect(_record_exception, weak=False)

URLCONF = __name__
MIDDLEWARE = [
    "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware",
    f"{__name__}.use_these_urls",
]


def django_echo(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    names = [k for k in request.META if k.startswith("HTTP_")]
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        names += [bytes(n).decode("latin-1") for n, _ in scope.get("headers", ())]
    identity = request.edgeclaims  # type: ignore[attr-defined]
    response = JsonResponse(_describe(identity, names))
    response[APP_MARKER] = "yes"
    return response


@django_decorators.roles_required("admin")
async def django_async_admin(request: HttpRequest) -> HttpResponse:
    return django_echo(request)


class AdminView(RolesRequiredMixin, View):
    required_roles = ("admin",)

    def get(self, request: HttpRequest) -> HttpResponse:
        return django_echo(request)


urlpatterns = [
    path("open/roles-admin", django_decorators.roles_required("admin")(django_echo)),
    path(
        "open/any-role",
        django_decorators.roles_required("admin", "auditor", match="any")(django_echo),
    ),
    path("open/perm-read", django_permissions_required("orders:read")(django_echo)),
    path("open/perm-write", django_permissions_required("orders:write")(django_echo)),
    path("open/identity", django_decorators.identity_required(django_echo)),
    path("open/async-admin", django_async_admin),
    path("open/cbv-admin", AdminView.as_view()),
    re_path(r"^.*$", django_echo),
]


@sync_and_async_middleware
def use_these_urls(get_response: Callable[[HttpRequest], Any]) -> Any:
    """Middleware: resolve against this module, whatever ``ROOT_URLCONF`` says."""
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> Any:
            request.urlconf = URLCONF
            return await get_response(request)

        return amiddleware

    def middleware(request: HttpRequest) -> Any:
        request.urlconf = URLCONF
        return get_response(request)

    return middleware


def _django(handler: Callable[[], Any], engine: Engine) -> Any:
    # build_engine is the middleware's documented hook for injecting an engine.
    with (
        override_settings(MIDDLEWARE=MIDDLEWARE, EDGECLAIMS=engine.config),
        mock.patch.object(EdgeClaimsMiddleware, "build_engine", return_value=engine),
    ):
        return handler()


def make_django_wsgi(engine: Engine) -> WSGIHandler:
    """Django's WSGI handler with the edgeclaims middleware first."""
    handler: WSGIHandler = _django(WSGIHandler, engine)
    return handler


def make_django_asgi(engine: Engine) -> ASGIHandler:
    """Django's ASGI handler (the middleware in async mode, ``adecide``)."""
    handler: ASGIHandler = _django(ASGIHandler, engine)
    return handler


# -- FastAPI ----------------------------------------------------------------------------


def make_fastapi_app(engine: Engine) -> FastAPI:
    """FastAPI with ``setup_edgeclaims(app)``: the ASGI middleware and the refusal handler."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    setup_edgeclaims(app, engine=engine)

    def echo(request: Request, identity: Identity | None) -> JSONResponse:
        names = [bytes(n).decode("latin-1") for n, _ in request.scope["headers"]]
        return JSONResponse(_describe(identity, names), headers={APP_MARKER: "yes"})

    @app.get("/open/roles-admin")
    async def roles_admin(
        request: Request, identity: Identity = Depends(require_roles("admin"))
    ) -> JSONResponse:
        return echo(request, identity)

    @app.get("/open/any-role")
    async def any_role(
        request: Request,
        identity: Identity = Depends(require_roles("admin", "auditor", match="any")),
    ) -> JSONResponse:
        return echo(request, identity)

    @app.get("/open/perm-read")
    async def perm_read(
        request: Request, identity: Identity = Depends(require_permissions("orders:read"))
    ) -> JSONResponse:
        return echo(request, identity)

    @app.get("/open/perm-write")
    def perm_write(
        request: Request, identity: Identity = Depends(require_permissions("orders:write"))
    ) -> JSONResponse:
        return echo(request, identity)

    @app.get("/open/identity")
    async def identity_view(request: Request, identity: CurrentIdentity) -> JSONResponse:
        return echo(request, identity)

    @app.websocket("/ws/admin")
    async def ws_admin(
        websocket: WebSocket, identity: Identity = Depends(require_roles("admin"))
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": identity.subject, "claims": read_claims(identity)})
        await websocket.close()

    @app.websocket("/ws/{rest:path}")
    async def ws_any(websocket: WebSocket, identity: OptionalIdentity) -> None:
        await websocket.accept()
        await websocket.send_json({"claims": read_claims(identity)})
        await websocket.close()

    @app.api_route("/{rest:path}", methods=METHODS)
    async def catch_all(request: Request, identity: OptionalIdentity) -> JSONResponse:
        return echo(request, identity)

    return app
