"""The ``cloudflare-access`` source: Cloudflare Access's signed header (spec/providers.md).

    Cf-Access-Jwt-Assertion: <RS256 JWT>

Keys come from ``https://<team_domain>/cdn-cgi/access/certs``, whose ``keys``
member is a JWK Set (``public_cert`` and ``public_certs`` beside it are
ignored). Keys rotate about every six weeks, the old one valid for seven
days more: a token naming an unknown ``kid`` makes the JWKS client refetch,
at most once per ``min_refetch_interval``. ``iss`` is ``https://<team_domain>``;
``aud`` is a list that must hold the application's AUD tag (``audience``).

Service tokens carry ``sub = ""`` and no ``email``; their ``common_name``
(the client id, ``<id>.access``) is then the subject. ``email`` is never
required (add it to ``required_claims`` to refuse service tokens).

Configuration keys (``type = "cloudflare-access"``): ``team_domain`` and
``audience`` (required), ``jwks_url`` (default from ``team_domain``), ``leeway``
(30), ``name``, ``subject_claim``, ``required_claims``, ``cache_size``,
``timeout``, ``min_refetch_interval``, ``max_stale``, ``prefetch``.

The unsigned ``Cf-Access-Authenticated-User-Email`` header is removed before
the app runs. The ``CF_Authorization`` cookie is not read: the header is the
one Access adds on every request to the origin.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgeclaims.config_table import Table
from edgeclaims.sources.provider_jwt import ProviderJWTSource, build, domain_setting

__all__ = ["HEADER", "from_table"]

HEADER = "cf-access-jwt-assertion"
UNSIGNED_HEADERS = ("cf-access-authenticated-user-email",)
#: An Access application's AUD tag: 64 hex digits.
_AUD_TAG = re.compile(r"[0-9a-f]{64}")


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> ProviderJWTSource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    team_domain = domain_setting(table, "team_domain")
    audience = table.str("audience")
    if not _AUD_TAG.fullmatch(audience):
        raise table.error(
            "audience",
            "must be the application's AUD tag (64 hexadecimal digits, from Access → "
            "Applications → the application → Overview)",
        )
    derived = {
        "name": table.raw("name", "cloudflare-access"),
        "header": HEADER,
        "issuer": [f"https://{team_domain}"],
        "audience": [audience],
        "algorithms": ["RS256"],
        "jwks_url": table.raw("jwks_url", f"https://{team_domain}/cdn-cgi/access/certs"),
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
        subject_fallback="common_name",
        unsigned_headers=UNSIGNED_HEADERS,
        hints=_hints(team_domain),
    )


def _hints(team_domain: str) -> tuple[tuple[str, str], ...]:
    """What ``edgeclaims verify`` adds under a refusal."""
    return (
        (
            "bad_audience",
            "audience must be the application's AUD tag, 64 hex digits (Zero Trust → Access → "
            "Applications → the application → Overview): a token for another Access "
            "application carries another tag",
        ),
        (
            "bad_issuer",
            f"the issuer is https://{team_domain}: check team_domain (Zero Trust → Settings → "
            "Custom Pages)",
        ),
        (
            "unknown_key",
            f"Access publishes its keys at https://{team_domain}/cdn-cgi/access/certs and "
            "rotates them about every six weeks: check team_domain and jwks_url (an unknown "
            "kid is refetched at most once per min_refetch_interval)",
        ),
        (
            "incomplete_claims",
            'a service token has sub = "" and names its client in common_name; a claim listed '
            'in required_claims is missing ("email" refuses service tokens)',
        ),
        (
            "algorithm_not_allowed",
            "Access signs with RS256 only: this token was not minted by Access",
        ),
    )
