"""The ``pomerium`` source: Pomerium's signed header (spec/providers.md).

    X-Pomerium-Jwt-Assertion: <ES256 JWT>

``aud`` is the route's domain (no scheme, ``route_domain``). Since v0.22
``iss`` is the route domain too; before, it was the authenticate service's
domain: ``issuers`` lists every issuer accepted (default ``[route_domain]``).
Keys come from ``jwks_url``, by default
``https://<route_domain>/.well-known/pomerium/jwks.json`` — from the
configuration, never derived from the token's ``iss``. ES256 by default;
``algorithms = ["ES256", "EdDSA"]`` for older deployments signing with Ed25519.

The ``X-Pomerium-Claim-*`` headers Pomerium can add are unsigned: they are
removed before the app runs and never read; the same claims are in the
verified token.

Configuration keys (``type = "pomerium"``): ``route_domain`` (required),
``issuers``, ``algorithms``, ``jwks_url``, ``leeway`` (30), ``name``,
``subject_claim``, ``required_claims``, ``cache_size``, ``timeout``,
``min_refetch_interval``, ``max_stale``, ``prefetch``.
"""

from __future__ import annotations

from pathlib import Path

from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError
from edgeclaims.sources.provider_jwt import ProviderJWTSource, build, domain_setting

__all__ = ["HEADER", "from_table"]

HEADER = "x-pomerium-jwt-assertion"
#: Pomerium's unsigned per-claim headers (``jwt_claims_headers``), every one.
UNSIGNED_HEADERS = ("x-pomerium-claim-*",)
#: What Pomerium signs with: ES256, and Ed25519 in older deployments.
ALLOWED_ALGORITHMS = ("ES256", "EdDSA")
#: What ``edgeclaims verify`` adds under a refusal.
HINTS = (
    (
        "bad_issuer",
        "Pomerium before v0.22 sets iss to the authenticate service's domain: list it in "
        "issuers beside the route domain until every instance is upgraded",
    ),
    (
        "bad_audience",
        "aud is the route's `from` host without a scheme: route_domain must be that host "
        "(with its port, if the route has one)",
    ),
    (
        "algorithm_not_allowed",
        'older Pomerium deployments sign with EdDSA: algorithms = ["ES256", "EdDSA"]',
    ),
    (
        "unknown_key",
        "keys come from jwks_url (default https://<route_domain>/.well-known/pomerium/jwks.json), "
        "never from the token's iss: check that jwks_url is this Pomerium's",
    ),
)


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> ProviderJWTSource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    route_domain = domain_setting(table, "route_domain", port=True)
    issuers = table.str_list("issuers", (route_domain,))
    if not issuers:
        raise table.error("issuers", "must not be empty")
    for index, issuer in enumerate(issuers):
        if not issuer.strip():
            raise ConfigurationError(f"{table.child_path('issuers')}[{index}]", "must not be empty")
    algorithms = table.str_list("algorithms", ("ES256",))
    if not algorithms:
        raise table.error("algorithms", "must not be empty")
    for index, name in enumerate(algorithms):
        if name not in ALLOWED_ALGORITHMS:
            raise ConfigurationError(
                f"{table.child_path('algorithms')}[{index}]",
                f"Pomerium signs with {' or '.join(ALLOWED_ALGORITHMS)}, not {name!r}",
            )
    derived = {
        "name": table.raw("name", "pomerium"),
        "header": HEADER,
        "issuer": list(issuers),
        "audience": [route_domain],
        "algorithms": list(algorithms),
        "jwks_url": table.raw("jwks_url", f"https://{route_domain}/.well-known/pomerium/jwks.json"),
        "leeway": table.raw("leeway", 30),
        "subject_claim": table.raw("subject_claim"),
        "required_claims": table.raw("required_claims"),
        "cache_size": table.raw("cache_size"),
        "timeout": table.raw("timeout"),
        "min_refetch_interval": table.raw("min_refetch_interval"),
        "max_stale": table.raw("max_stale"),
        "prefetch": table.raw("prefetch"),
    }
    return build(
        table,
        derived,
        base_dir=base_dir,
        replay_enabled=replay_enabled,
        unsigned_headers=UNSIGNED_HEADERS,
        hints=HINTS,
    )
