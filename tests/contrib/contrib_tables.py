"""The framework tests' shared tables and helpers (conftest.py parametrises with them).

Every framework runs two tables and must agree with the engine on each row:

* ``table_case`` — the shared table of valid and tampered requests
  (tests/tables.py), through the framework's own test client;
* ``privilege_case`` — anonymous, under-privileged and privileged requests
  to views guarded by the framework's decorators / mixins / dependencies on
  a public route, so the view code (not the route policy) refuses.
"""

from __future__ import annotations

import importlib
import itertools
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from tables import ADMIN, NOW, VIEWER, Case, cases, config_mapping

from edgeclaims.config import Config, load_config
from edgeclaims.engine import Engine
from edgeclaims.request import RequestView
from edgeclaims.testing import EdgeSigner, build_asgi_scope


def framework(name: str) -> ModuleType:
    """Import a framework, or skip its tests — except under CI, where it must be installed."""
    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


#: ``/open/*`` is public for the route policy, so only the view code guards it.
CONTRIB_ROUTES = {
    "/admin/*": ["admin"],
    "GET /reports/*": ["admin"],
    "/healthz": "public",
    "/open/*": "public",
}
PERMISSIONS = {"admin": ["orders:read", "orders:write"], "staff": ["orders:read"]}
#: The table's roles, and the ``auditor`` that ``/open/any-role`` names.
CONTRIB_ROLES = {
    "admin": ["groups=okta-admins"],
    "staff": ["groups=staff"],
    "auditor": ["groups=auditors"],
}


def contrib_mapping(**overrides: object) -> dict[str, object]:
    """The table's configuration, plus the public ``/open/*`` views and permissions."""
    return config_mapping(
        **{
            "roles": CONTRIB_ROLES,
            "routes": CONTRIB_ROUTES,
            "permissions": PERMISSIONS,
            **overrides,
        }
    )


CONTRIB_CONFIG = load_config(contrib_mapping())
CASES = cases()
IDENTITY_HEADERS = ("x-edge-claims", "signature", "signature-input")


@dataclass(frozen=True)
class Privilege:
    id: str
    path: str
    claims: dict[str, object] | None
    expect: str


#: Views every framework's test app defines, guarded in the view's code:
#: /open/roles-admin  roles_required("admin")
#: /open/any-role     roles_required("admin", "auditor", match="any")
#: /open/perm-read    permissions_required("orders:read")
#: /open/perm-write   permissions_required("orders:write")
#: /open/identity     identity_required
PRIVILEGES = [
    Privilege("anonymous-role", "/open/roles-admin", None, "missing"),
    Privilege("viewer-lacks-role", "/open/roles-admin", VIEWER, "forbidden"),
    Privilege("admin-has-role", "/open/roles-admin", ADMIN, "ok"),
    Privilege("viewer-lacks-any-role", "/open/any-role", VIEWER, "forbidden"),
    Privilege("admin-has-one-role", "/open/any-role", ADMIN, "ok"),
    Privilege("anonymous-permission", "/open/perm-write", None, "missing"),
    Privilege("viewer-lacks-permission", "/open/perm-write", VIEWER, "forbidden"),
    Privilege("viewer-has-read", "/open/perm-read", VIEWER, "ok"),
    Privilege("admin-has-write", "/open/perm-write", ADMIN, "ok"),
    Privilege("anonymous-identity", "/open/identity", None, "missing"),
    Privilege("viewer-identity", "/open/identity", VIEWER, "ok"),
]

_nonces = itertools.count()


def privilege_headers(
    privilege: Privilege, origin: str, config: Config = CONTRIB_CONFIG
) -> dict[str, str]:
    """The edge's headers for a privilege row (none for an anonymous one)."""
    if privilege.claims is None:
        return {}
    signer = EdgeSigner.for_config(config, clock=lambda: NOW)
    return signer.headers(
        "GET", origin + privilege.path, privilege.claims, nonce=f"p-{next(_nonces)}"
    )


def engine_code(case: Case, config: Config = CONTRIB_CONFIG) -> str:
    """The engine's verdict on a table row: a refusal code, ``ok`` or ``anonymous``."""
    engine = Engine(config, clock=lambda: NOW)
    outcome = engine.decide(
        RequestView.from_asgi(build_asgi_scope(case.method, case.url, case.headers))
    )
    if outcome.refusal is not None:
        return outcome.refusal.code
    return "ok" if outcome.identity else "anonymous"


def wsgi_headers(case: Case) -> dict[str, str]:
    """A WSGI server joins repeated header lines with ", " (waitress does)."""
    joined: dict[str, str] = {}
    for name, value in case.headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def verdict(status: int, body: dict[str, Any]) -> str:
    """A response's verdict: the problem code, or ``ok`` / ``anonymous`` from the echo view."""
    if "code" in body:
        assert status == body["status"], body
        return str(body["code"])
    assert status == 200, body
    # The echo views report which identity headers they could still see.
    assert body.get("saw_identity_headers", []) == [], body
    return "ok" if body.get("sub") else "anonymous"


def describe(identity: Any, seen_headers: list[str]) -> dict[str, Any]:
    """What the echo views answer."""
    return {
        "sub": identity.subject if identity else None,
        "roles": sorted(identity.roles) if identity else [],
        "permissions": sorted(identity.permissions) if identity else [],
        "source": identity.source if identity else None,
        "saw_identity_headers": [
            h for h in seen_headers if h.lower().replace("_", "-") in IDENTITY_HEADERS
        ],
    }
