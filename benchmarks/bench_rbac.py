"""Role evaluation cost next to the RFC 9421 verification of the same request, in one run.

    python benchmarks/bench_rbac.py

The request carries the typical claims of ``rbac_fixture`` (20 roles, 50
rules, about 15 claims) signed with hmac-sha256. Issue 5's budget (roles +
permissions ≤ 0.25× the verification) was a ratio to edgeclaims' own
verification, a kind of budget issue #13 withdrew (it only breeds caches as
the verification gets faster); the ratio is printed for information.
"""

from __future__ import annotations

from common import median_seconds, report
from rbac_fixture import typical_policy_and_claims
from tables import HMAC_KEY, NOW, ORIGIN, config_mapping

from edgeclaims.config import load_config
from edgeclaims.request import RequestView
from edgeclaims.testing import EdgeSigner, build_wsgi_environ


def main() -> None:
    policy, claims = typical_policy_and_claims()
    # The fixture's times are relative to the wall clock; pin them to the signature's.
    claims = {**claims, **{k: NOW + 300 for k in ("exp",) if k in claims}}
    claims = {**claims, **{k: NOW - 10 for k in ("iat", "nbf", "auth_time") if k in claims}}
    source = load_config(config_mapping(replay={"store": "off"})).sources[0]
    url = ORIGIN + "/api/orders?page=2"
    headers = EdgeSigner(HMAC_KEY, clock=lambda: NOW).headers("GET", url, claims, nonce="bench")
    view = RequestView.from_wsgi(build_wsgi_environ("GET", url, headers))
    rows = [
        ("rfc9421 hmac-sha256 verification", median_seconds(lambda: source.verify(view, NOW))),
        (
            "roles_for + permissions_for (20 roles, 50 rules)",
            median_seconds(lambda: policy.permissions_for(policy.roles_for(claims)), number=20_000),
        ),
        (
            "requirement_for (route policy)",
            median_seconds(lambda: policy.requirement_for("GET", "/api/orders"), number=20_000),
        ),
    ]
    report(rows, [("(info) roles / verification", rows[1][0], rows[0][0], float("inf"))])


if __name__ == "__main__":
    main()
