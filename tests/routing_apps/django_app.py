"""The routing site in Django (see ``routing_apps``), under WSGI and ASGI.

Django's settings can be configured once per process, so this reuses the
project of the framework tests (``tests/contrib/django_project``, the same
``DJANGO_SETTINGS_MODULE`` tests/contrib/test_django.py sets) and changes
nothing in it: the routing site's handlers are built with their own
``MIDDLEWARE`` and ``EDGECLAIMS`` under ``override_settings`` (Django reads
both when it builds a handler), and the first middleware points the request
at this module's ``urlpatterns`` through ``request.urlconf``.

Methods are dispatched the Django way: function views answer every method,
class-based views by handler (``View`` runs ``get`` for HEAD).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

from routing_apps import TESTS, VIEW_HEADER

if str(TESTS / "contrib") not in sys.path:  # django_project and the contrib_tables it reads
    sys.path.insert(0, str(TESTS / "contrib"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_project.settings")

import django

django.setup()

from asgiref.sync import iscoroutinefunction  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from django.utils.decorators import sync_and_async_middleware  # noqa: E402
from django.views import View  # noqa: E402

from edgeclaims.config import Config  # noqa: E402

URLCONF = __name__
EDGECLAIMS_MIDDLEWARE = "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware"
URLCONF_MIDDLEWARE = f"{__name__}.use_routing_urls"


def _answer(label: str) -> JsonResponse:
    response = JsonResponse({"view": label})
    response[VIEW_HEADER] = label
    return response


def _view(label: str) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, **_: str) -> HttpResponse:
        return _answer(label)

    return view


class Orders(View):
    def get(self, request: HttpRequest, oid: str) -> HttpResponse:
        return _answer("open:orders-read")

    def post(self, request: HttpRequest, oid: str) -> HttpResponse:
        return _answer("protected:orders-write")


class Reports(View):
    def get(self, request: HttpRequest, name: str) -> HttpResponse:
        return _answer("protected:reports")


urlpatterns = [
    path("healthz", _view("public:healthz")),
    path("static/<path:p>", _view("public:static")),
    path("whoami", _view("open:whoami")),
    path("admin", _view("protected:admin")),
    path("admin/", _view("protected:admin-slash")),
    path("admin/users/<uid>", _view("protected:admin-user")),
    path("admin/<path:rest>", _view("protected:admin-rest")),
    path("orders/<oid>", Orders.as_view()),
    path("reports/<name>", Reports.as_view()),
    re_path(r"^.*$", _view("open:catch-all")),
]


@sync_and_async_middleware
def use_routing_urls(get_response: Callable[[HttpRequest], Any]) -> Any:
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


def _settings(config: Config | Mapping[str, object] | None) -> dict[str, Any]:
    if config is None:
        return {"MIDDLEWARE": [URLCONF_MIDDLEWARE]}
    return {"MIDDLEWARE": [EDGECLAIMS_MIDDLEWARE, URLCONF_MIDDLEWARE], "EDGECLAIMS": config}


def make_django_wsgi(config: Config | Mapping[str, object] | None = None) -> WSGIHandler:
    """The site under WSGI; with ``config`` edgeclaims' Django middleware guards it."""
    with override_settings(**_settings(config)):
        return WSGIHandler()


def make_django_asgi(config: Config | Mapping[str, object] | None = None) -> ASGIHandler:
    """The site under ASGI; with ``config`` edgeclaims' Django middleware guards it."""
    with override_settings(**_settings(config)):
        return ASGIHandler()
