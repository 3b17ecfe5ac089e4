"""The routing site in Flask (see ``routing_apps``): guarded by ``EdgeClaims``, or bare."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, jsonify

from edgeclaims.config import Config
from edgeclaims.contrib.flask import EdgeClaims
from routing_apps import VIEW_HEADER

#: The catch-all views' methods (Flask answers OPTIONS itself, without a view).
ANY_METHOD = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

#: (rule, label, methods); Werkzeug adds HEAD wherever GET is allowed.
ROUTES = (
    ("/healthz", "public:healthz", ANY_METHOD),
    ("/static/<path:p>", "public:static", ANY_METHOD),
    ("/whoami", "open:whoami", ANY_METHOD),
    ("/admin", "protected:admin", ANY_METHOD),
    ("/admin/", "protected:admin-slash", ANY_METHOD),
    ("/admin/users/<uid>", "protected:admin-user", ANY_METHOD),
    ("/admin/<path:rest>", "protected:admin-rest", ANY_METHOD),
    ("/orders/<oid>", "open:orders-read", ("GET",)),
    ("/orders/<oid>", "protected:orders-write", ("POST",)),
    ("/reports/<name>", "protected:reports", ("GET",)),
    ("/", "open:catch-all", ANY_METHOD),
    ("/<path:anything>", "open:catch-all", ANY_METHOD),
)


def _view(label: str) -> object:
    def view(**_: str) -> Response:
        response = jsonify(view=label)
        response.headers[VIEW_HEADER] = label
        return response

    return view


def make_flask_app(config: Config | Mapping[str, object] | None = None) -> Flask:
    """The site; with ``config`` edgeclaims guards it, without it is the bare twin (the oracle)."""
    app = Flask("routing_flask", static_folder=None)
    for index, (rule, label, methods) in enumerate(ROUTES):
        app.add_url_rule(
            rule, endpoint=f"view{index}", view_func=_view(label), methods=list(methods)
        )
    if config is not None:
        EdgeClaims(app, config)
    return app
