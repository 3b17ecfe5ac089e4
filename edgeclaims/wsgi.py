"""WSGI middleware: the object IIS/wfastcgi's ``WSGI_HANDLER`` names.

    from edgeclaims.wsgi import EdgeClaimsMiddleware
    application = EdgeClaimsMiddleware(app)      # config from EDGECLAIMS_CONFIG

**Security:** once wrapped, the application sees ``environ["edgeclaims.identity"]``
(an :class:`~edgeclaims.identity.Identity`, or None for an anonymous request
on a public route) and never the raw identity headers, which are removed
from the environ whatever the verdict. A WSGI environ cannot tell
``X-Edge-Claims`` from ``X_Edge_Claims``: use a front end that drops
underscore headers (waitress, gunicorn ≥ 22) and let the edge strip client
copies (see the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from edgeclaims.body import read_wsgi_body
from edgeclaims.config import Config
from edgeclaims.engine import Engine
from edgeclaims.handoff import IDENTITY_KEY, OUTCOME_KEY, IdentityHeaders
from edgeclaims.problem import render_refusal, status_line
from edgeclaims.request import RequestView

__all__ = ["IDENTITY_KEY", "OUTCOME_KEY", "EdgeClaimsMiddleware"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class EdgeClaimsMiddleware:
    """Verify the edge's identity headers before the wrapped WSGI app runs."""

    def __init__(
        self,
        app: WSGIApp,
        config: Config | Mapping[str, object] | str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        engine: Engine | None = None,
    ) -> None:
        self.app = app
        self.engine = engine if engine is not None else Engine(config, clock=clock)
        self._trust_original_url = self.engine.config.trust_original_url
        self._identity_headers = IdentityHeaders(self.engine.stripped_headers)
        self._reads_body = self.engine.reads_body

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        view = RequestView.from_wsgi(environ, trust_original_url=self._trust_original_url)
        if self._reads_body:
            read_wsgi_body(self.engine, view, environ)
        outcome = self.engine.decide(view)
        self._identity_headers.strip_environ(environ)
        if outcome.refusal is not None:
            refusal = render_refusal(outcome.refusal)
            start_response(status_line(refusal.status), refusal.headers)
            return [refusal.body]
        environ[IDENTITY_KEY] = outcome.identity
        environ[OUTCOME_KEY] = outcome
        return self.app(environ, start_response)
