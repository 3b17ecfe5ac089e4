"""The routing site in FastAPI (see ``routing_apps``): guarded by ``setup_edgeclaims``, or bare."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from edgeclaims.config import Config
from edgeclaims.contrib.fastapi import setup_edgeclaims
from routing_apps import VIEW_HEADER

ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

#: (path, label, methods) in Starlette's order: the first full match wins.
#: Starlette adds HEAD wherever GET is allowed.
ROUTES = (
    ("/healthz", "public:healthz", ANY_METHOD),
    ("/static/{p:path}", "public:static", ANY_METHOD),
    ("/whoami", "open:whoami", ANY_METHOD),
    ("/admin", "protected:admin", ANY_METHOD),
    ("/admin/", "protected:admin-slash", ANY_METHOD),
    ("/admin/users/{uid}", "protected:admin-user", ANY_METHOD),
    ("/admin/{rest:path}", "protected:admin-rest", ANY_METHOD),
    ("/orders/{oid}", "open:orders-read", ("GET",)),
    ("/orders/{oid}", "protected:orders-write", ("POST",)),
    ("/reports/{name}", "protected:reports", ("GET",)),
    ("/{anything:path}", "open:catch-all", ANY_METHOD),
)


def _view(label: str) -> Callable[[], Awaitable[JSONResponse]]:
    async def view() -> JSONResponse:
        return JSONResponse({"view": label}, headers={VIEW_HEADER: label})

    return view


def make_fastapi_app(config: Config | Mapping[str, object] | None = None) -> FastAPI:
    """The site; with ``config`` edgeclaims guards it, without it is the bare twin (the oracle)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    for index, (path, label, methods) in enumerate(ROUTES):
        app.add_api_route(
            path, _view(label), methods=list(methods), name=f"view{index}", include_in_schema=False
        )
    if config is not None:
        setup_edgeclaims(app, config)
    return app
