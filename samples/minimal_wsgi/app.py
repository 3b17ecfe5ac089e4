"""The smallest edgeclaims app: plain WSGI, no framework.

Run it locally (from this folder):

    EDGECLAIMS_KEY_DEMO=hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \\
        waitress-serve --listen=127.0.0.1:8000 app:application

and call it with headers from ``edgeclaims sign --config edgeclaims.toml
--url http://127.0.0.1:8000/whoami --claims '{"sub":"alice"}'``.
Under IIS + wfastcgi, ``WSGI_HANDLER`` is ``app.application``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edgeclaims.wsgi import EdgeClaimsMiddleware

HERE = Path(__file__).resolve().parent


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """/healthz is public; /whoami shows the verified identity."""
    identity = environ.get("edgeclaims.identity")
    if environ.get("PATH_INFO") == "/healthz":
        document: dict[str, Any] = {"status": "ok"}
    elif identity is None:
        document = {"anonymous": True}
    else:
        document = {"sub": identity.subject, "roles": sorted(identity.roles), "source": identity.source}
    body = json.dumps(document).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


application = EdgeClaimsMiddleware(app, os.environ.get("EDGECLAIMS_CONFIG") or str(HERE / "edgeclaims.toml"))
