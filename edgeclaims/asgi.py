"""ASGI middleware for FastAPI, Starlette, Django ASGI and any ASGI app.

    from edgeclaims.asgi import EdgeClaimsMiddleware
    app.add_middleware(EdgeClaimsMiddleware, config=config)   # or EDGECLAIMS_CONFIG

**Security:** http and websocket scopes are verified before the app runs;
the app sees ``scope["edgeclaims.identity"]`` (and ``scope["user"]`` /
``scope["auth"]`` in Starlette's shapes) and never the raw identity headers,
in any spelling — ASGI servers keep ``x_edge_claims`` apart from
``x-edge-claims``, so both are removed, and a request carrying the
underscore spelling is refused as ambiguous. Lifespan events pass through.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from edgeclaims.body import read_asgi_body
from edgeclaims.config import Config
from edgeclaims.engine import Engine, Outcome
from edgeclaims.errors import VerificationError
from edgeclaims.handoff import IDENTITY_KEY, OUTCOME_KEY, IdentityHeaders
from edgeclaims.problem import render_refusal
from edgeclaims.request import RequestView

__all__ = ["IDENTITY_KEY", "OUTCOME_KEY", "EdgeClaimsMiddleware"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: WebSocket close code for a refused handshake (RFC 6455 §7.4.1: policy violation).
WS_POLICY_VIOLATION = 1008


class EdgeClaimsMiddleware:
    """Verify the edge's identity headers before the wrapped ASGI app runs."""

    def __init__(
        self,
        app: ASGIApp,
        config: Config | Mapping[str, object] | str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        engine: Engine | None = None,
    ) -> None:
        self.app = app
        self.engine = engine if engine is not None else Engine(config, clock=clock)
        self._identity_headers = IdentityHeaders(self.engine.stripped_headers)
        self._user_for = _starlette_user_factory()
        self._reads_body = self.engine.reads_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        view = RequestView.from_asgi(scope)
        if self._reads_body:
            receive = await read_asgi_body(self.engine, view, scope, receive)
        outcome = await self.engine.adecide(view)
        if outcome.refusal is not None:
            await self._refuse(scope, send, outcome.refusal)
            return
        scope = dict(scope)
        scope["headers"] = self._identity_headers.strip_scope_headers(scope.get("headers", ()))
        scope[IDENTITY_KEY] = outcome.identity
        scope[OUTCOME_KEY] = outcome
        self._user_for(scope, outcome)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, error: VerificationError) -> None:
        status, lines, body = render_refusal(error)
        headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in lines]
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # WebSocket: answer the handshake with the problem document where the
        # server supports the denial-response extension, else close it.
        if "websocket.http.response" in scope.get("extensions", {}):
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
            return
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": error.code})


def _starlette_user_factory() -> Callable[[Scope, Outcome], None]:
    """Fill ``scope["user"]``/``scope["auth"]`` in Starlette's shapes when it is installed."""
    try:
        from starlette.authentication import AuthCredentials, UnauthenticatedUser
    except ImportError:  # Starlette is optional; Identity alone still works.

        def plain(scope: Scope, outcome: Outcome) -> None:
            scope["user"] = outcome.identity
            scope["auth"] = None

        return plain

    anonymous = UnauthenticatedUser()
    no_credentials = AuthCredentials()

    def starlette(scope: Scope, outcome: Outcome) -> None:
        identity = outcome.identity
        if identity is None:
            scope["user"] = anonymous
            scope["auth"] = no_credentials
        else:
            scope["user"] = identity
            scope["auth"] = AuthCredentials(["authenticated", *sorted(identity.roles)])

    return starlette
