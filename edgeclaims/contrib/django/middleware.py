"""The Django middleware: one class, sync- and async-capable.

    MIDDLEWARE.insert(0, "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware")

It builds the request view, lets the engine decide (``adecide`` under ASGI,
so the replay store never blocks the event loop), removes the raw identity
headers and sets ``request.edgeclaims``; a refusal is answered with the
``application/problem+json`` document of the WSGI/ASGI middleware.

Where the request comes from:

* under WSGI, ``request.META`` *is* the WSGI environ, with the raw URI the
  server put there (IIS ``UNENCODED_URL``, waitress ``REQUEST_URI``,
  gunicorn ``RAW_URI``) — the same view as :mod:`edgeclaims.wsgi`;
* under ASGI, Django's ``request.META`` holds no raw URI (only the decoded
  ``PATH_INFO``), folds repeated header lines into one and drops
  underscore-spelled headers. The middleware therefore reads
  ``request.scope`` — ``raw_path`` and the header lines as the server
  received them — the same view as :mod:`edgeclaims.asgi`. Were only
  ``META`` available, a percent-encoded path would need
  ``path_form = "normalized"`` on both the edge and the origin.

When the edgeclaims WSGI or ASGI middleware already wraps the Django
application, its outcome is reused: nothing is verified twice (the replay
store would otherwise see every nonce twice).

With ``EdgeClaimsBackend`` in ``AUTHENTICATION_BACKENDS``, ``request.user``
(and ``request.auser()``) become the user mapped from the verified identity,
or ``AnonymousUser`` — set in ``process_view``, after
``AuthenticationMiddleware``, so a session can never stand in for the edge.

**Security:** place it first in ``MIDDLEWARE``: a middleware before it runs
with the raw identity headers still in ``request.META``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from edgeclaims.body import read_django_body
from edgeclaims.contrib import renamed
from edgeclaims.contrib.django import load_django_config
from edgeclaims.engine import Engine, Outcome
from edgeclaims.errors import VerificationError
from edgeclaims.handoff import IDENTITY_KEY, OUTCOME_KEY, IdentityHeaders
from edgeclaims.problem import render_refusal
from edgeclaims.request import RequestView

__all__ = ["EdgeClaimsMiddleware", "refusal_response"]

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


def refusal_response(error: VerificationError) -> HttpResponse:
    """The ``application/problem+json`` refusal, as a Django response."""
    status, headers, body = render_refusal(error)
    response = HttpResponse(body, status=status, content_type="application/problem+json")
    for name, value in headers:
        if name != "Content-Type":
            response[name] = value
    return response


# The old name clashed with contrib.fastapi.problem_response (an exception handler).
__getattr__ = renamed(__name__, {"problem_response": lambda: refusal_response})


class EdgeClaimsMiddleware:
    """Verify the edge's identity headers before any view runs."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        self.engine = self.build_engine()
        self._trust_original_url = self.engine.config.trust_original_url
        self._identity_headers = IdentityHeaders(self.engine.stripped_headers)
        self._user_backends = _edgeclaims_backends()
        self._reads_body = self.engine.reads_body

    def build_engine(self) -> Engine:
        """The engine of this process, from ``settings.EDGECLAIMS`` or ``EDGECLAIMS_CONFIG``.

        Override in a subclass to inject a clock or a shared replay store.
        Raises ``ConfigurationError`` at start-up (Django builds middleware
        when the handler is created).
        """
        return Engine(load_django_config())

    # -- the request path -----------------------------------------------------

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        outcome = _prior_outcome(request)
        if outcome is None:
            outcome = self.engine.decide(self._view(request))
        refusal = self._apply(request, outcome)
        if refusal is not None:
            return refusal
        return cast("GetResponse", self.get_response)(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        outcome = _prior_outcome(request)
        if outcome is None:
            outcome = await self.engine.adecide(self._view(request))
        refusal = self._apply(request, outcome)
        if refusal is not None:
            return refusal
        return await cast("AsyncGetResponse", self.get_response)(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        """Map the identity to ``request.user`` when ``EdgeClaimsBackend`` is configured."""
        if self._user_backends:
            _install_user(request, self._user_backends)

    # -- helpers --------------------------------------------------------------

    def _view(self, request: HttpRequest) -> RequestView:
        scope = getattr(request, "scope", None)
        if isinstance(scope, dict) and scope.get("type") in ("http", "websocket"):
            view = RequestView.from_asgi(scope)
        else:
            view = RequestView.from_wsgi(request.META, trust_original_url=self._trust_original_url)
        if self._reads_body:
            read_django_body(self.engine, view, request)  # GAP-Signature signs the body
        return view

    def _apply(self, request: HttpRequest, outcome: Outcome) -> HttpResponse | None:
        """Strip the raw headers whatever the verdict, then refuse or attach the identity."""
        self._identity_headers.strip_environ(request.META)
        scope = getattr(request, "scope", None)
        if isinstance(scope, dict) and "headers" in scope:
            scope["headers"] = self._identity_headers.strip_scope_headers(scope["headers"])
        # request.headers is cached from META on first use: forget any copy.
        request.__dict__.pop("headers", None)
        if outcome.refusal is not None:
            return refusal_response(outcome.refusal)
        request.META[IDENTITY_KEY] = outcome.identity
        request.META[OUTCOME_KEY] = outcome
        _attach(request, outcome)
        return None


def _attach(request: Any, outcome: Outcome) -> None:
    request.edgeclaims = outcome.identity


def _prior_outcome(request: HttpRequest) -> Outcome | None:
    """The outcome of an edgeclaims WSGI/ASGI middleware wrapping Django, if any."""
    outcome = request.META.get(OUTCOME_KEY)
    if isinstance(outcome, Outcome):
        return outcome
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        outcome = scope.get(OUTCOME_KEY)
        if isinstance(outcome, Outcome):
            return outcome
    return None


def _edgeclaims_backends() -> list[tuple[str, Any]]:
    """The configured ``EdgeClaimsBackend`` instances, with their dotted paths."""
    from edgeclaims.contrib.django.backends import EdgeClaimsBackend

    found: list[tuple[str, Any]] = []
    for path in getattr(settings, "AUTHENTICATION_BACKENDS", ()):
        backend = import_string(path)  # only ours is instantiated (and checked) here
        if isinstance(backend, type) and issubclass(backend, EdgeClaimsBackend):
            found.append((path, backend()))
    return found


def _install_user(request: Any, backends: list[tuple[str, Any]]) -> None:
    resolved: list[Any] = []

    def user() -> Any:
        if not resolved:
            resolved.append(_user_for(request, backends))
        return resolved[0]

    async def auser() -> Any:
        return await sync_to_async(user)()

    request.user = SimpleLazyObject(user)
    request.auser = auser


def _user_for(request: HttpRequest, backends: list[tuple[str, Any]]) -> Any:
    for path, backend in backends:
        user = backend.authenticate(request, edgeclaims=True)
        if user is not None:
            # What django.contrib.auth.authenticate records, for login() and the admin.
            user.backend = path
            return user
    return AnonymousUser()
