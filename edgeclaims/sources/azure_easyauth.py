"""The ``azure-easyauth`` source: Azure App Service Authentication ("Easy Auth"), spec/providers.md.

    X-MS-CLIENT-PRINCIPAL: <padded standard base64 of a JSON object>

**The principal is not signed.** App Service's front end signs the user in,
drops any ``X-MS-*`` header a client sent and sets its own; nothing in the
header proves it came from there. Whoever reaches the app another way — a
deployment slot without authentication, the app's own address or container
port, a copy of the app run elsewhere — can claim any identity. So the
source refuses to load without ``trust_unsigned = true``, ``edgeclaims
check`` warns (W011) whenever it is configured, and App Service must be the
only way in: the top-level ``trusted_peers`` (a principal from any other
peer is refused with ``untrusted_peer`` on every route, public ones too:
``Source.unsigned``) and App Service access restrictions.

The header is read as App Service writes it (``Convert.ToBase64String``):
standard alphabet, padded, canonical; anything else is ``malformed``, as is
JSON that is not one object without duplicate members
(:mod:`edgeclaims.strict_json`). Two shapes exist, told apart by their members:

* App Service (also Functions and Container Apps): ``{"auth_typ", "claims":
  [{"typ", "val"}, …], "name_typ", "role_typ"}``. ``claims`` become a
  mapping by ``typ``: a typ seen once holds its string, a typ seen several
  times (``groups``) the list of its strings in order. ``roles`` is always a
  list: the values of the ``role_typ`` claims, then those of claims typed
  ``roles`` — App Service keeps Entra ID's app roles under ``roles`` while
  ``role_typ`` names the long URI. ``auth_typ`` is kept as the claim
  ``auth_typ``. The subject is the ``name_typ`` claim; a missing or empty
  ``name_typ`` or ``role_typ`` means .NET's defaults, as for a
  ``ClaimsIdentity``.
* Static Web Apps: ``{"identityProvider", "userId", "userDetails",
  "userRoles": […], "claims"?}``. The claims are ``identityProvider``,
  ``userId``, ``userDetails``, ``roles`` (``userRoles``) and those of the
  optional ``claims`` list, by ``typ`` as above (the four named fields win
  over a claim of the same typ). The subject is ``userId``.

Every ``typ`` and ``val`` must be a string: a wrong type anywhere is
``malformed``, never skipped. ``subject_claim`` names another claim for
the subject (Entra ID's stable ``objectidentifier`` URI); a subject that
is missing, not one string, or blank is ``incomplete_claims``. There is
no nonce and no time in the principal: no replay check applies.

The unsigned convenience headers ``X-MS-CLIENT-PRINCIPAL-NAME``, ``-ID``,
``-IDP`` and every ``X-MS-TOKEN-*`` (the token store's provider tokens)
are removed before the app runs, with the principal itself.

Configuration keys (``[[edgeclaims.sources]]`` with ``type = "azure-easyauth"``):
``trust_unsigned`` (required, must be ``true``), ``name`` (``"azure-easyauth"``),
``subject_claim``, ``required_claims``, ``max_principal_bytes`` (32768; a
longer header is ``too_large``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from edgeclaims import structured
from edgeclaims.config_table import Table
from edgeclaims.errors import AmbiguousHeader, MalformedHeader, MissingIdentity, TooLarge
from edgeclaims.request import RequestView
from edgeclaims.sources import (
    Assertion,
    Source,
    Trace,
    read_optional_subject_settings,
    subject_of,
)
from edgeclaims.strict_json import decode_json_object

__all__ = [
    "DEFAULT_MAX_PRINCIPAL_BYTES",
    "DEFAULT_NAME_TYPE",
    "DEFAULT_ROLE_TYPE",
    "HEADER",
    "EasyAuthSource",
    "Principal",
    "from_table",
    "read_principal",
]

HEADER = "x-ms-client-principal"
#: App Service's unsigned convenience headers; ``x-ms-token-*`` is every provider token.
UNSIGNED_HEADERS = (
    "x-ms-client-principal-name",
    "x-ms-client-principal-id",
    "x-ms-client-principal-idp",
    "x-ms-token-*",
)
#: .NET's ``ClaimsIdentity.DefaultNameClaimType`` / ``DefaultRoleClaimType``: what an
#: absent or empty ``name_typ`` / ``role_typ`` means.
DEFAULT_NAME_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
DEFAULT_ROLE_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
#: Entra ID with 200 group claims comes to about 16 KiB once encoded: twice that.
DEFAULT_MAX_PRINCIPAL_BYTES = 32768
#: The Static Web Apps fields that become claims under their own names.
_SWA_FIELDS = ("identityProvider", "userId", "userDetails")
_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

WARNING_ID = "W011"
RISK = (
    "trust_unsigned = true: X-MS-CLIENT-PRINCIPAL is not signed, so anyone who reaches the "
    "app without passing through App Service authentication (a slot without it, the app's "
    "own address or container port, a copy run elsewhere) can claim any identity; set "
    "trusted_peers to the addresses App Service connects from and restrict access to the app"
)
#: What ``edgeclaims verify`` adds under a refusal.
HINTS = (
    (
        "malformed",
        "X-MS-CLIENT-PRINCIPAL must be padded standard base64 of one JSON object: App "
        'Service\'s {"auth_typ", "claims": [{"typ", "val"}], "name_typ", "role_typ"} or '
        'Static Web Apps\' {"identityProvider", "userId", "userDetails", "userRoles"}, '
        "every typ and val a string; only App Service sets it",
    ),
    (
        "ambiguous",
        "X-MS-CLIENT-PRINCIPAL arrived twice (or spelled with underscores): App Service sets "
        "it once, so another hop added one",
    ),
    (
        "too_large",
        "the principal is longer than max_principal_bytes: raise it (Entra ID group claims "
        "grow it), or emit fewer group claims",
    ),
    (
        "incomplete_claims",
        "the principal holds no single claim of its name_typ (App Service) or userId (Static "
        "Web Apps): set subject_claim to a typ it carries, e.g. "
        '"http://schemas.microsoft.com/identity/claims/objectidentifier" for Entra ID',
    ),
)


class Principal(NamedTuple):
    """A decoded client principal: its shape, its claims, the claim naming its subject."""

    #: ``"app-service"`` or ``"static-web-apps"``.
    shape: str
    claims: dict[str, Any]
    #: The claim that names the subject unless ``subject_claim`` says otherwise.
    subject_claim: str


@dataclass(frozen=True, eq=False)
class EasyAuthSource(Source):
    """Reads App Service's (or Static Web Apps') unsigned client principal; see the module."""

    name: str = "azure-easyauth"
    #: The claim naming the subject; None: ``name_typ``'s claim, or ``userId``.
    subject_claim: str | None = None
    required_claims: tuple[str, ...] = ()
    max_principal_bytes: int = DEFAULT_MAX_PRINCIPAL_BYTES
    type: str = "azure-easyauth"
    unsigned = True  # not a field: trusted_peers then applies on public routes too
    hints = HINTS  # not a field

    @property
    def trigger_headers(self) -> tuple[str, ...]:
        return (HEADER,)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (HEADER, *UNSIGNED_HEADERS)

    def risks(self) -> tuple[tuple[str, str], ...]:
        # trust_unsigned is required, so the risk is there whenever the source is.
        return ((WARNING_ID, RISK),)

    def verify(self, view: RequestView, now: float, trace: Trace | None = None) -> Assertion:
        text = view.header(HEADER)  # AmbiguousHeader when sent twice or with underscores
        if text is None:
            raise MissingIdentity("no X-MS-CLIENT-PRINCIPAL header")
        # Before decoding anything: the header's length bounds all the work.
        if len(text) > self.max_principal_bytes:
            raise TooLarge("X-MS-CLIENT-PRINCIPAL is longer than max_principal_bytes")
        principal = read_principal(_decode(text))
        claims = principal.claims
        subject_claim = self.subject_claim or principal.subject_claim
        subject = subject_of(claims, subject_claim, self.required_claims)
        if trace:
            # Shape and counts only: claim values other than the subject are never shown.
            trace(
                "principal",
                f"{principal.shape} shape, {len(claims)} claims, {len(claims['roles'])} roles; "
                f"subject from {subject_claim!r} (unsigned: trusted by configuration)",
            )
        return Assertion(claims, None, None, subject)


def _decode(text: str) -> dict[str, Any]:
    """The JSON object a principal header encodes, or ``MalformedHeader``/``AmbiguousHeader``."""
    if "," in text:
        # Not in the base64 alphabet: two field lines a WSGI server joined with ", ".
        parts = [part.strip() for part in text.split(",")]
        if all(part and _BASE64_ALPHABET.issuperset(part) for part in parts):
            raise AmbiguousHeader("X-MS-CLIENT-PRINCIPAL arrived more than once")
        raise MalformedHeader("X-MS-CLIENT-PRINCIPAL is not padded standard base64")
    # Canonical only (what Convert.ToBase64String writes): another spelling of
    # the same bytes — no padding, URL-safe letters, stray bits — is not App Service's.
    raw = structured.canonical_base64(text) if _BASE64_ALPHABET.issuperset(text) else None
    if raw is None:
        raise MalformedHeader("X-MS-CLIENT-PRINCIPAL is not padded standard base64")
    return decode_json_object(raw, "client principal")


def read_principal(principal: Mapping[str, Any]) -> Principal:
    """The claims of a decoded principal (either shape) and the claim naming its subject.

    Raises ``MalformedHeader`` for a principal of neither shape or with a
    member of the wrong type.
    """
    app_service = "auth_typ" in principal
    if app_service == ("userId" in principal):
        raise MalformedHeader(
            "the client principal has neither App Service's shape (auth_typ, claims) "
            "nor Static Web Apps' (identityProvider, userId, userDetails, userRoles)"
        )
    if app_service:
        return _app_service_claims(principal)
    return _static_web_apps_claims(principal)


def _app_service_claims(principal: Mapping[str, Any]) -> Principal:
    auth_typ = principal["auth_typ"]
    if not isinstance(auth_typ, str):
        raise MalformedHeader("the client principal's auth_typ is not a string")
    if "claims" not in principal:
        raise MalformedHeader("the client principal has no claims list")
    values = _claim_values(principal["claims"])
    name_typ = _claim_type(principal, "name_typ") or DEFAULT_NAME_TYPE
    role_typ = _claim_type(principal, "role_typ") or DEFAULT_ROLE_TYPE
    roles = list(values.get(role_typ, ()))
    if role_typ != "roles":
        roles.extend(values.get("roles", ()))
    claims = _by_type(values)
    claims["roles"] = list(dict.fromkeys(roles))
    claims["auth_typ"] = auth_typ
    return Principal("app-service", claims, name_typ)


def _static_web_apps_claims(principal: Mapping[str, Any]) -> Principal:
    fields: dict[str, str] = {}
    for field in _SWA_FIELDS:
        value = principal.get(field)
        if not isinstance(value, str):
            raise MalformedHeader(f"the client principal's {field} is not a string")
        fields[field] = value
    roles = principal.get("userRoles")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise MalformedHeader("the client principal's userRoles is not a list of strings")
    # Custom providers' claims reach only /.auth/me as a rule; read them when sent.
    claims = _by_type(_claim_values(principal.get("claims", [])))
    claims.update(fields)
    claims["roles"] = list(dict.fromkeys(roles))
    return Principal("static-web-apps", claims, "userId")


def _claim_type(principal: Mapping[str, Any], member: str) -> str | None:
    value = principal.get(member)
    if value is not None and not isinstance(value, str):
        raise MalformedHeader(f"the client principal's {member} is not a string")
    return value


def _claim_values(items: object) -> dict[str, list[str]]:
    """``[{"typ", "val"}, …]`` as typ → its values in order; ``MalformedHeader`` otherwise."""
    if not isinstance(items, list):
        raise MalformedHeader("the client principal's claims is not a list")
    values: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, dict):
            raise MalformedHeader("a client principal claim is not an object")
        typ = item.get("typ")
        val = item.get("val")
        if not isinstance(typ, str) or not typ:
            raise MalformedHeader("a client principal claim has no typ string")
        if not isinstance(val, str):
            raise MalformedHeader("a client principal claim's val is not a string")
        values.setdefault(typ, []).append(val)
    return values


def _by_type(values: Mapping[str, list[str]]) -> dict[str, Any]:
    return {typ: found[0] if len(found) == 1 else list(found) for typ, found in values.items()}


# -- configuration ------------------------------------------------------------------


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> EasyAuthSource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    why = (
        "X-MS-CLIENT-PRINCIPAL is not signed: anyone who reaches the app without passing "
        "through App Service can claim any identity. Set trust_unsigned = true only once "
        "App Service is the only way in (trusted_peers, access restrictions)"
    )
    if "trust_unsigned" not in table:
        raise table.error("trust_unsigned", f"is required. {why}")
    if not table.bool("trust_unsigned"):
        raise table.error("trust_unsigned", f"must be true to use this source. {why}")
    subject_claim, required = read_optional_subject_settings(table)
    return EasyAuthSource(
        name=table.str("name", "azure-easyauth"),
        subject_claim=subject_claim,
        required_claims=required,
        max_principal_bytes=table.int(
            "max_principal_bytes", DEFAULT_MAX_PRINCIPAL_BYTES, minimum=256
        ),
    )
