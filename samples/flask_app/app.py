"""edgeclaims sample: Flask.

Three routes: ``/healthz`` (public), ``/whoami`` (any verified identity),
``/admin`` (role ``admin``, checked by the view's decorator as well as by
``[edgeclaims.routes]``). The configuration is the file named by
``EDGECLAIMS_CONFIG``, else ``edgeclaims.toml`` beside this module.

Locally, from this folder::

    waitress-serve --listen=127.0.0.1:8000 app:app

Under IIS: HttpPlatformHandler runs the same command (``web.config``);
wfastcgi names the object with ``WSGI_HANDLER = app.app`` (``web.wfastcgi.config``).
``EdgeClaims(app)`` wraps ``app.wsgi_app``, so ``app`` itself is the
protected WSGI callable. Never write ``app.app()``: wfastcgi would *call*
the Flask object with no arguments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from edgeclaims.contrib.flask import EdgeClaims, get_identity, identity_required, roles_required

HERE = Path(__file__).resolve().parent

app = Flask(__name__)
app.config["EDGECLAIMS"] = os.environ.get("EDGECLAIMS_CONFIG") or str(HERE / "edgeclaims.toml")
EdgeClaims(app)


def _identity_document() -> dict[str, Any]:
    # The identity itself, taken once: current_identity, a proxy, would look
    # it up again for each attribute read below.
    identity = get_identity()
    assert identity is not None  # the decorators and routes refused anonymous requests
    return {
        "sub": identity.subject,
        "roles": sorted(identity.roles),
        "permissions": sorted(identity.permissions),
        "source": identity.source,
    }


@app.get("/healthz")
def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@app.get("/whoami")
@identity_required
def whoami() -> dict[str, Any]:
    return _identity_document()


@app.get("/admin")
@roles_required("admin")
def admin() -> dict[str, Any]:
    return {"admin": True, **_identity_document()}
