"""What the identity-aware proxies that forward a JWT share: gcp-iap, cloudflare-access, pomerium.

Each provider module reads its own ``[[edgeclaims.sources]]`` table and
derives from it, once at start-up, the table of a ``jws`` source: header,
issuer, audience, algorithms and key URL fixed by the provider (never taken
from a token), the JWKS client with its refetch, outage and flood rules, the
verified-token cache. :func:`build` turns that derived table into a
:class:`ProviderJWTSource` — a :class:`~edgeclaims.sources.jws.JWSSource`
that adds what the providers need beyond it:

* an audience or issuer mismatch says which value was expected and which the
  (verified) token holds, shortened and escaped — the most common
  misconfiguration (an IAP project id where the number belongs) is then
  readable in ``edgeclaims verify`` and ``Outcome.refusal.detail``; the
  decision log still shows only the code;
* a fallback subject claim (Cloudflare service tokens: ``sub`` is ``""``,
  ``common_name`` names the client);
* ``iat`` required where the provider always sets it and its own verifier
  requires it (IAP: "``iat`` must be in the past");
* the provider's unsigned convenience headers, removed before the app runs
  (a name ending in ``*`` removes every header it begins);
* a hint per refusal code, naming the setting to check, that ``edgeclaims
  verify`` prints under the verdict (never sent, never logged).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeclaims.config_table import Table
from edgeclaims.errors import BadAudience, BadIssuer, MalformedHeader
from edgeclaims.sources import subject_of
from edgeclaims.sources.jws import JWSSource
from edgeclaims.sources.jws import from_table as jws_from_table

__all__ = ["ProviderJWTSource", "build", "domain_setting", "shown"]

#: Characters of a token value shown in an error: enough to tell two audiences apart.
SHOWN_CHARACTERS = 100

_DOMAIN = re.compile(
    r"(?=.{1,253}(?::|$))[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::[0-9]{1,5})?"
)


@dataclasses.dataclass(frozen=True, eq=False)
class ProviderJWTSource(JWSSource):
    """A ``jws`` source whose header, issuer, audience, algorithms and keys a provider fixes."""

    #: A claim naming the subject when ``subject_claim`` is the empty string.
    subject_fallback: str | None = None
    #: The provider's unsigned headers, removed too (``name*``: every header beginning so).
    unsigned_headers: tuple[str, ...] = ()
    #: Refuse a token without ``iat`` (``malformed``).
    require_iat: bool = False
    #: (refusal code, what to check) pairs for ``edgeclaims verify``.
    hints: tuple[tuple[str, str], ...] = ()

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (*self.trigger_headers, *self.unsigned_headers)

    def subject_for(self, claims: Mapping[str, Any]) -> str:
        fallback = self.subject_fallback
        if fallback is not None and claims.get(self.subject_claim) == "":
            return subject_of(claims, fallback, self.required_claims)
        return super().subject_for(claims)

    def _check_claims(self, claims: Mapping[str, Any], now: float) -> float:
        if self.require_iat and claims.get("iat") is None:
            raise MalformedHeader("the token has no iat claim")
        # Only reached once the signature verified: what the token holds is
        # the provider's word, shown so that a wrong setting can be spotted.
        try:
            return super()._check_claims(claims, now)
        except BadIssuer:
            raise BadIssuer(
                f"expected issuer {_listed(self.issuers)}, "
                f"the token's iss is {shown(claims.get('iss'))}"
            ) from None
        except BadAudience:
            raise BadAudience(
                f"expected audience {_listed(self.audiences)}, "
                f"the token's aud is {shown(claims.get('aud'))}"
            ) from None


def build(
    table: Table,
    derived: dict[str, Any],
    *,
    base_dir: Path,
    replay_enabled: bool,
    subject_fallback: str | None = None,
    unsigned_headers: tuple[str, ...] = (),
    require_iat: bool = False,
    hints: tuple[tuple[str, str], ...] = (),
) -> ProviderJWTSource:
    """The source for ``derived``, a ``jws`` table made from the provider's ``table``.

    ``derived`` is read under ``table``'s key path, so an error in a value the
    user gave (``leeway``, ``jwks_url``, …) names the user's setting.
    """
    jws_table = Table(
        {key: value for key, value in derived.items() if value is not None}, table.path
    )
    jws = jws_from_table(jws_table, base_dir=base_dir, replay_enabled=replay_enabled)
    jws_table.refuse_unknown()
    fields = {f.name: getattr(jws, f.name) for f in dataclasses.fields(jws) if f.init}
    fields["type"] = table.str("type")
    return ProviderJWTSource(
        **fields,
        subject_fallback=subject_fallback,
        unsigned_headers=unsigned_headers,
        require_iat=require_iat,
        hints=hints,
    )


def domain_setting(table: Table, key: str, *, port: bool = False) -> str:
    """A required host name setting (``myteam.cloudflareaccess.com``): no scheme, no path."""
    value = table.str(key)
    if "://" in value:
        raise table.error(key, "give the domain alone, without https://")
    lowered = value.lower()
    if not _DOMAIN.fullmatch(lowered) or (not port and ":" in lowered):
        raise table.error(key, "must be a domain name such as app.example.com")
    return lowered


def shown(value: object) -> str:
    """A claim value for an error message: short, ASCII, quoted; a list as its first items.

    Anything but a string (or a list of them) is named by its JSON type only.
    """
    if isinstance(value, list):
        items = [shown(item) for item in value[:3]]
        more = f", ... {len(value) - 3} more" if len(value) > 3 else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, str):
        cut = value[:SHOWN_CHARACTERS]
        return ascii(cut) + ("..." if len(value) > SHOWN_CHARACTERS else "")
    if value is None:
        return "absent or null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an object" if isinstance(value, Mapping) else "not a string"


def _listed(values: tuple[str, ...]) -> str:
    return " or ".join(ascii(value) for value in values)
