"""Apps and tooling for the routing-differential tests (tests/test_routing_differential.py).

The same small site is written for Flask, Django and FastAPI. Its protected
views check no role themselves: only the route policy guards them, so a
request that reaches one with an identity lacking the role is a bypass.
Every view answers with its label in the ``X-Routing-View`` header (a HEAD
response has no body) and in a JSON body.

=========================  ==========================  ==========================
path                        label                       route policy
=========================  ==========================  ==========================
``/healthz``                ``public:healthz``          public (``public_paths``)
``/static/<path>``          ``public:static``           public (``public_paths``)
``/whoami``                 ``open:whoami``             authenticated (default)
``/admin``                  ``protected:admin``         ``"/admin/*" = ["admin"]``
``/admin/``                 ``protected:admin-slash``   ``"/admin/*"``
``/admin/users/<id>``       ``protected:admin-user``    ``"/admin/*"``
``/admin/<path:rest>``      ``protected:admin-rest``    ``"/admin/*"``
``GET /orders/<id>``        ``open:orders-read``        authenticated (default)
``POST /orders/<id>``       ``protected:orders-write``  ``"POST /orders/*" = ["orders:write"]``
``GET /reports/<name>``     ``protected:reports``       ``"GET /reports/*" = ["admin"]``
``/<path:any>``             ``open:catch-all``          authenticated (default)
=========================  ==========================  ==========================
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:  # tables.py, when a server process imports this package
    sys.path.insert(0, str(TESTS))

from tables import ADMIN, HMAC_SECRET, VIEWER  # noqa: E402

__all__ = [
    "ADMIN",
    "HMAC_SECRET",
    "HOST",
    "KEY_ID",
    "PROTECTED",
    "TESTS",
    "TWIN_HEADER",
    "VIEWER",
    "VIEW_HEADER",
    "routing_config",
]

HOST = "app.example.com"
KEY_ID = "2026-11"
#: The response header every view of the routing apps sets to its label.
VIEW_HEADER = "X-Routing-View"
#: Labels of views that only the route policy guards start with this.
PROTECTED = "protected:"
#: Which twin a request goes to on a real server (servers.py): "bare" skips edgeclaims.
TWIN_HEADER = "X-Routing-Twin"


def routing_config(prefix: str = "") -> dict[str, Any]:
    """The ``[edgeclaims]`` table of the routing apps, for an app mounted at ``prefix``.

    The policy is written in full paths (what the edge sees), so an app
    mounted at ``/app`` has ``"/app/admin/*"``. Replay is off: the
    differential re-sends the same request to the bare twin and the guarded one.
    """
    return {
        "public_paths": [f"{prefix}/healthz", f"{prefix}/static/*"],
        "sources": [
            {
                "type": "rfc9421",
                "keys": [
                    {"id": KEY_ID, "alg": "hmac-sha256", "secret": "hex:" + HMAC_SECRET.hex()}
                ],
            }
        ],
        "replay": {"store": "off"},
        "roles": {"admin": ["groups=okta-admins"], "viewer": ["groups=staff"]},
        "permissions": {"admin": ["orders:write"]},
        "routes": {
            f"{prefix}/admin/*": ["admin"],
            f"POST {prefix}/orders/*": ["orders:write"],
            f"GET {prefix}/reports/*": ["admin"],
        },
    }
