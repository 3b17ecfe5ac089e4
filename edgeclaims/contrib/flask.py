"""Flask: an extension, ``current_identity``, and decorators for roles and permissions.

    from edgeclaims.contrib.flask import EdgeClaims, current_identity, roles_required

    app = Flask(__name__)
    app.config["EDGECLAIMS"] = {...}        # or leave it out: EDGECLAIMS_CONFIG
    EdgeClaims(app)                          # or edgeclaims.init_app(app) in a factory

    @app.get("/admin")
    @roles_required("admin")
    def admin():
        return {"sub": current_identity.subject}

The extension wraps ``app.wsgi_app``: the engine decides before Flask sees
the request and the raw identity headers are removed from the environ
whatever the verdict. A refusal is then raised inside Flask, as the first
``before_request`` function, as an :class:`IdentityRefused` exception
(a ``werkzeug`` ``Unauthorized``, ``Forbidden``, … for its status), so
``@app.errorhandler(401)`` or ``@app.errorhandler(IdentityRefused)``
can render it; by default it is the ``application/problem+json`` document
of the WSGI middleware.

**Security:** ``current_identity`` is the verified identity, or ``None``
(anonymous on a public route). It is a proxy: test it with
``if current_identity:``, not ``is None``. A refused request never reaches a
view or a ``before_request`` function of the app's; it does reach
``url_value_preprocessors`` and ``request_started`` receivers, which must
not serve anything on their own.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug import exceptions
from werkzeug.local import LocalProxy
from werkzeug.wrappers import Response

from edgeclaims.body import read_wsgi_body
from edgeclaims.config import Config
from edgeclaims.contrib import Requirement, renamed
from edgeclaims.engine import Engine, Outcome
from edgeclaims.errors import ConfigurationError, VerificationError
from edgeclaims.handoff import IDENTITY_KEY, OUTCOME_KEY, IdentityHeaders
from edgeclaims.identity import Identity
from edgeclaims.logs import log_view_refusal
from edgeclaims.problem import render_refusal
from edgeclaims.request import RequestView

__all__ = [
    "EdgeClaims",
    "IdentityRefused",
    "current_identity",
    "get_identity",
    "identity_required",
    "permissions_required",
    "refusal_exception",
    "roles_required",
]

F = TypeVar("F", bound=Callable[..., Any])
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

EXTENSION_KEY = "edgeclaims"


class IdentityRefused(exceptions.HTTPException):
    """A refusal, raised inside Flask so its error handlers can render it.

    ``error`` is the :class:`~edgeclaims.errors.VerificationError` (``.code``,
    ``.status``, ``.title``). Each status has its own subclass that is also
    the ``werkzeug`` exception for that status, so ``@app.errorhandler(401)``
    catches ``missing`` and ``bad_signature`` alike.
    """

    error: VerificationError

    def __init__(self, error: VerificationError) -> None:
        super().__init__(description=error.title)
        self.error = error

    def get_response(
        self,
        environ: Any = None,
        scope: dict[str, Any] | None = None,
    ) -> Response:
        """The problem document of the WSGI middleware, byte for byte."""
        status, lines, body = render_refusal(self.error)
        headers = [(n, v) for n, v in lines if n != "Content-Type"]
        return Response(
            body, status=status, headers=headers, content_type="application/problem+json"
        )


class BadRequestRefusal(IdentityRefused, exceptions.BadRequest):
    """400: the request's path or method has more than one reading."""


class UnauthorizedRefusal(IdentityRefused, exceptions.Unauthorized):
    """401: no identity, or one that could not be trusted."""


class ForbiddenRefusal(IdentityRefused, exceptions.Forbidden):
    """403: the identity lacks a role or permission."""


class TooLargeRefusal(IdentityRefused, exceptions.RequestHeaderFieldsTooLarge):
    """431: the identity header is too large."""


class BodyTooLargeRefusal(IdentityRefused, exceptions.RequestEntityTooLarge):
    """413: a signed body (GAP-Signature) is larger than the source reads."""


class UnavailableRefusal(IdentityRefused, exceptions.ServiceUnavailable):
    """503: the replay store or a key source is down."""


_BY_STATUS: dict[int, type[IdentityRefused]] = {
    400: BadRequestRefusal,
    401: UnauthorizedRefusal,
    403: ForbiddenRefusal,
    413: BodyTooLargeRefusal,
    431: TooLargeRefusal,
    503: UnavailableRefusal,
}


def refusal_exception(error: VerificationError) -> IdentityRefused:
    """The :class:`IdentityRefused` to raise for a verification error."""
    # Every error is 400, 401, 403, 413, 431 or 503; the response carries error.status anyway.
    return _BY_STATUS.get(error.status, UnauthorizedRefusal)(error)


class _Verifier:
    """Wraps ``app.wsgi_app``: decide, strip the raw headers, hand the outcome to Flask."""

    def __init__(self, wsgi_app: WSGIApp, engine: Engine) -> None:
        self.wsgi_app = wsgi_app
        self.engine = engine
        self._trust_original_url = engine.config.trust_original_url
        self._identity_headers = IdentityHeaders(engine.stripped_headers)
        self._reads_body = engine.reads_body

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        outcome = environ.get(OUTCOME_KEY)
        if not isinstance(outcome, Outcome):
            # Not decided yet (no edgeclaims WSGI middleware in front of Flask).
            view = RequestView.from_wsgi(environ, trust_original_url=self._trust_original_url)
            if self._reads_body:
                read_wsgi_body(self.engine, view, environ)
            outcome = self.engine.decide(view)
            self._identity_headers.strip_environ(environ)
            environ[OUTCOME_KEY] = outcome
        environ[IDENTITY_KEY] = outcome.identity
        return self.wsgi_app(environ, start_response)


def _refuse_if_refused() -> None:
    outcome = _outcome()
    if outcome.refusal is not None:
        raise refusal_exception(outcome.refusal)


class EdgeClaims:
    """The Flask extension: verify every request of the app with edgeclaims.

    The configuration is, in order: ``config`` given here, then
    ``app.config["EDGECLAIMS"]`` (a mapping, a TOML path or a ``Config``),
    then the file named by ``EDGECLAIMS_CONFIG``. ``clock`` and ``engine``
    are for tests and for sharing one engine (and replay store) between apps.
    A :class:`~edgeclaims.errors.ConfigurationError` is raised by
    ``init_app``, before the first request.
    """

    def __init__(
        self,
        app: Flask | None = None,
        config: Config | Mapping[str, object] | str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        engine: Engine | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.engine = engine
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Wrap ``app.wsgi_app`` and install the refusal hook."""
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError("EDGECLAIMS", "EdgeClaims is already set up on this app")
        engine = self.engine
        if engine is None:
            config = self.config if self.config is not None else app.config.get("EDGECLAIMS")
            engine = Engine(config, clock=self.clock)
        app.extensions[EXTENSION_KEY] = engine
        app.wsgi_app = _Verifier(app.wsgi_app, engine)  # type: ignore[method-assign]
        # First of all before_request functions, so none of the app's runs
        # for a refused request (blueprints' run after the app's).
        app.before_request_funcs.setdefault(None, []).insert(0, _refuse_if_refused)


def _outcome() -> Outcome:
    outcome = request.environ.get(OUTCOME_KEY)
    if not isinstance(outcome, Outcome):
        raise ConfigurationError(
            "EDGECLAIMS",
            "no edgeclaims outcome on this request: set up EdgeClaims(app) "
            "(edgeclaims.contrib.flask) before using current_identity or its decorators",
        )
    return outcome


def get_identity() -> Identity | None:
    """The verified :class:`~edgeclaims.identity.Identity` of the current request, or None.

    The object itself, where :data:`current_identity` is a proxy that looks
    it up again on every attribute read: a view that reads several
    attributes may take it once (``identity = get_identity()``).
    """
    return _outcome().identity


#: The verified :class:`~edgeclaims.identity.Identity` of the current request,
#: or None when anonymous. A proxy: use ``if current_identity:``.
current_identity: Identity | None = cast("Identity | None", LocalProxy(get_identity))


def _requirement_decorator(requirement: Requirement) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
            identity = get_identity()
            refusal = requirement.refusal(identity)
            if refusal is not None:
                log_view_refusal(refusal, identity, method=request.method, path=request.path)
                raise refusal_exception(refusal)
            result: ResponseReturnValue = current_app.ensure_sync(view)(*args, **kwargs)
            return result

        wrapper.edgeclaims_requirement = requirement  # type: ignore[attr-defined]
        return cast("F", wrapper)

    return decorator


def identity_required(view: F) -> F:
    """The view needs a verified identity: 401 (``missing``) when anonymous."""
    return _requirement_decorator(Requirement())(view)


def roles_required(*roles: str, match: str = "all") -> Callable[[F], F]:
    """The view needs these roles: 401 when anonymous, 403 (``forbidden``) when lacking.

    ``match = "all"`` (default) needs every role; ``"any"`` needs one of them.
    """
    return _requirement_decorator(
        Requirement.build(roles=roles, match=match, name="roles_required")
    )


def permissions_required(*permissions: str, match: str = "all") -> Callable[[F], F]:
    """The view needs these permissions: 401 when anonymous, 403 when lacking."""
    return _requirement_decorator(
        Requirement.build(permissions=permissions, match=match, name="permissions_required")
    )


# Plural like roles_required (the old name still works, with a warning).
__getattr__ = renamed(__name__, {"permission_required": lambda: permissions_required})
