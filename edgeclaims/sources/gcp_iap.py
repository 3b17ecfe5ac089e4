"""The ``gcp-iap`` source: Google Cloud Identity-Aware Proxy's signed header (spec/providers.md).

    x-goog-iap-jwt-assertion: <ES256 JWT>

IAP signs with ES256 only, keys at ``https://www.gstatic.com/iap/verify/public_key-jwk``;
``iss`` is ``https://cloud.google.com/iap`` and ``aud`` names the backend:
``/projects/<NUMBER>/global/backendServices/<ID>`` (load balancer) or
``/projects/<NUMBER>/apps/<PROJECT_ID>`` (App Engine). The project *number*,
not its id: a mismatch says which audience was expected and which was seen.
``exp`` and ``iat`` are required (Google's own verifier requires both).
Claims include ``sub`` (``accounts.google.com:<id>``), ``email`` and ``hd``.

Configuration keys (``[[edgeclaims.sources]]`` with ``type = "gcp-iap"``):
``audience`` (required), ``jwks_url`` (default Google's; https, or http to a
loopback host), ``leeway`` (30), ``name`` (``"gcp-iap"``), ``subject_claim``,
``required_claims``, ``cache_size`` and the JWKS URL settings ``timeout``,
``min_refetch_interval``, ``max_stale``, ``prefetch`` — each as for ``jws``.

IAP's unsigned ``x-goog-authenticated-user-email`` / ``-id`` headers are
removed before the app runs and never read.

**Security**: IAP's health checks carry no assertion: list their paths in
``public_paths``, never relax ``audience``.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeclaims.config_table import Table
from edgeclaims.sources.provider_jwt import ProviderJWTSource, build

__all__ = ["AUDIENCE_SHAPE", "HEADER", "ISSUER", "JWKS_URL", "from_table"]

HEADER = "x-goog-iap-jwt-assertion"
ISSUER = "https://cloud.google.com/iap"
JWKS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"
#: The two audiences IAP signs (a project number, never the project id).
AUDIENCE_SHAPE = re.compile(
    r"/projects/[0-9]+/(?:global/backendServices/[0-9]+|apps/[a-z][a-z0-9.:-]{4,61}[a-z0-9])"
)
UNSIGNED_HEADERS = ("x-goog-authenticated-user-email", "x-goog-authenticated-user-id")
#: What ``edgeclaims verify`` adds under a refusal.
HINTS = (
    (
        "bad_audience",
        "audience must be the backend's JWT audience code (Security → Identity-Aware Proxy → "
        "the backend service's menu → Get JWT audience code): /projects/<project NUMBER>/…, "
        "the number, never the project id",
    ),
    ("bad_issuer", f"IAP always signs with iss {ISSUER}: this token was not minted by IAP"),
    ("algorithm_not_allowed", "IAP signs with ES256 only: this token was not minted by IAP"),
    (
        "unknown_key",
        f"IAP's keys are served at {JWKS_URL}: check jwks_url; a token IAP did not sign "
        "names a kid that is not there",
    ),
)


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> ProviderJWTSource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    audience = table.str("audience")
    if not AUDIENCE_SHAPE.fullmatch(audience):
        raise table.error(
            "audience",
            "must be /projects/<project NUMBER>/global/backendServices/<service id> or "
            "/projects/<project NUMBER>/apps/<project id> (the project number is digits)",
        )
    derived = {
        "name": table.raw("name", "gcp-iap"),
        "header": HEADER,
        "issuer": [ISSUER],
        "audience": [audience],
        "algorithms": ["ES256"],
        "jwks_url": table.raw("jwks_url", JWKS_URL),
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
        require_iat=True,
        hints=HINTS,
    )
