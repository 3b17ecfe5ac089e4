"""A typical role mapping (20 roles, 50 rules) and claims set, for the RBAC benchmark.

    python benchmarks/rbac_fixture.py

prints the median cost of ``roles_for`` + ``permissions_for``. The project's
benchmark puts the same call next to the RFC 9421 verification of a request
(issue 5 budget: ≤ 0.25× that verification).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Run from a checkout without installing.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgeclaims.config_table import Table  # noqa: E402
from edgeclaims.rbac import Policy, compile_policy  # noqa: E402

NS = "https://example.com/claims"

ROLES: dict[str, Any] = {
    # 20 roles, 50 rules: Okta groups, Entra app roles, Keycloak realm roles,
    # namespaced Auth0 claims, globs, booleans, numbers, a hierarchy.
    "owner": {
        "any": ["realm_access.roles=realm-owner", "groups=okta-owners"],
        "includes": ["admin"],
    },
    "admin": {
        "any": [
            "groups=okta-admins",
            "roles=Admin",
            "realm_access.roles=admin",
            "groups=Domain Admins",
        ],
        "includes": ["editor", "auditor"],
    },
    "editor": {
        "any": ["groups=editors", "roles=Editor", "realm_access.roles=editor"],
        "includes": ["viewer"],
    },
    "viewer": {"all": ["email=*@example.com", "email_verified=true"], "includes": ["basic"]},
    "basic": [],
    "auditor": [{"claim": [NS, "roles"], "equals": "audit"}, "groups=auditors", "roles=Auditor"],
    "billing": [
        "groups=billing",
        "groups=finance-*",
        "roles=Billing",
        {"claim": [NS, "roles"], "equals": "billing"},
    ],
    "support": ["groups=support-*", "roles=Support", {"claim": [NS, "team"], "equals": "support"}],
    "sales": ["groups=sales", "groups=sales-*", "department=Sales"],
    "hr": ["groups=hr", "groups=people-ops", "department=Human Resources", "roles=HR"],
    "engineering": ["groups=eng-*", "department=Engineering"],
    "oncall": {"all": ["groups=eng-oncall", "amr=mfa"]},
    "contractor": {
        "all": ["employment.type=contract", {"claim": "employment.active", "equals": True}]
    },
    "gold": ["plan_level=3", "premium=true", {"claim": "plan_level", "equals": 4}],
    "beta": [{"claim": "features", "glob": "beta-?"}, "features=early-access"],
    "partner": [
        "tid=7f3c2b1e-0000-4000-8000-0000000000aa",
        "idp=partner-*",
        "email=*@partner.example",
    ],
    "acme": ["orgs.id=acme"],
    "reporter": [{"all": ["groups=analysts", "amr=mfa"]}, "groups=finance"],
    "security": [
        "groups=security",
        "roles=SecurityAdmin",
        "wids=62e90394-69f5-4237-9190-012177145e10",
    ],
    "everyone": ["authenticated"],
}

PERMISSIONS: dict[str, Any] = {
    "admin": ["orders:write", "orders:read", "users:manage"],
    "viewer": ["orders:read"],
    "basic": ["profile:read"],
    "auditor": ["audit:read"],
    "billing": ["invoices:read", "invoices:write"],
    "support": ["tickets:read", "tickets:write"],
    "reporter": ["reports:read"],
    "security": ["audit:read", "keys:rotate"],
}

ROUTES: dict[str, Any] = {
    "/admin/*": ["admin"],
    "POST /orders/*": ["orders:write"],
    "GET /orders/*": ["orders:read"],
    "/api/*": "authenticated",
    "/healthz": "public",
}

# What an edge typically forwards for an Okta/Entra employee: ~15 claims.
CLAIMS: dict[str, Any] = {
    "sub": "00u1a2b3c4d5e6f7g8h9",
    "iss": "https://example.okta.com/oauth2/default",
    "aud": "orders-app",
    "iat": 1_790_000_000,
    "exp": 1_790_003_600,
    "email": "alice@example.com",
    "email_verified": True,
    "name": "Alice Example",
    "groups": [
        "Everyone",
        "editors",
        "eng-platform",
        "eng-oncall",
        "staff",
        "vpn-users",
        "confluence-users",
        "jira-users",
        "github-org",
        "building-7",
    ],
    "roles": ["Editor"],
    "amr": ["pwd", "mfa"],
    "department": "Engineering",
    "realm_access": {"roles": ["offline_access", "uma_authorization"]},
    NS: {"roles": ["member"], "team": "platform"},
    "tid": "4a1b2c3d-0000-4000-8000-000000000001",
}


def typical_policy_and_claims() -> tuple[Policy, dict[str, Any]]:
    """The 20-role, 50-rule policy and a typical claims set (about 15 claims)."""
    policy = compile_policy(
        Table(ROLES, "roles"),
        Table(PERMISSIONS, "permissions"),
        Table(ROUTES, "routes"),
        default_route="authenticated",
    )
    return policy, dict(CLAIMS)


def _count_rules(value: Any) -> int:
    if isinstance(value, dict):
        if "claim" in value:
            return 1
        return sum(_count_rules(value.get(key, [])) for key in ("any", "all"))
    if isinstance(value, list):
        return sum(_count_rules(item) for item in value)
    return 1


def main() -> None:
    from common import median_seconds

    policy, claims = typical_policy_and_claims()
    rules = sum(_count_rules(value) for value in ROLES.values())
    median = median_seconds(lambda: policy.permissions_for(policy.roles_for(claims)), number=20_000)
    roles = sorted(policy.roles_for(claims))
    print(f"{len(ROLES)} roles, {rules} rules, {len(claims)} claims → {', '.join(roles)}")
    print(f"roles_for + permissions_for: {median * 1e6:.2f} µs median per call")


if __name__ == "__main__":
    main()
