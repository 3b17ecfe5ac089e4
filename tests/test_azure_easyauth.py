"""The ``azure-easyauth`` source: Azure App Service's unsigned client principal (spec/providers.md).

Principals are built here the way the platforms build them — App Service's
``{auth_typ, claims: [{typ, val}], name_typ, role_typ}`` with .NET's claim
type URIs and Entra ID's short claims (app roles under ``roles``, groups
repeated), Static Web Apps' ``{identityProvider, userId, userDetails,
userRoles}`` — and encoded with the standard library (padded standard
base64, as ``Convert.ToBase64String`` writes it), not with the helper under
test. One table of requests runs through the engine, the WSGI middleware,
the ASGI middleware and Django's test client, and must give the same
verdicts everywhere; roles come from a real ``[edgeclaims.roles]`` policy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.cli import main
from edgeclaims.config import config_warnings, load_config
from edgeclaims.engine import Engine
from edgeclaims.errors import ConfigurationError
from edgeclaims.request import RequestView
from edgeclaims.sources import SOURCE_MODULES
from edgeclaims.sources.azure_easyauth import EasyAuthSource
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ, easyauth_principal
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

HOST = "https://orders.azurewebsites.net"
HEADER = "X-MS-CLIENT-PRINCIPAL"

NAME_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
EMAIL_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ROLE_URI = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
OID_URI = "http://schemas.microsoft.com/identity/claims/objectidentifier"
NAMEID_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
TENANT_URI = "http://schemas.microsoft.com/identity/claims/tenantid"

ADA_OID = "5f3c2b1a-8d7e-4c6b-9a5f-1e2d3c4b5a69"
GROUP_STAFF = "0f8c4ab7-3d2e-4f1a-9b8c-7d6e5f4a3b21"
GROUP_FINANCE = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


def aad_principal(**overrides: Any) -> dict[str, Any]:
    """An App Service principal for an Entra ID sign-in, as the platform writes it.

    .NET's claim mapping turns some token claims into URIs (``oid``, ``sub``,
    ``email``); others stay short. App roles stay under ``roles`` while
    ``role_typ`` names the role URI; groups repeat one claim per group.
    """
    principal: dict[str, Any] = {
        "auth_typ": "aad",
        "claims": [
            {"typ": "aud", "val": "2b4d3e1f-5c6a-4b7d-8e9f-0a1b2c3d4e5f"},
            {
                "typ": "iss",
                "val": "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            },
            {"typ": "iat", "val": "1782000000"},
            {"typ": "nbf", "val": "1782000000"},
            {"typ": "exp", "val": "1782003900"},
            {"typ": "groups", "val": GROUP_STAFF},
            {"typ": "groups", "val": GROUP_FINANCE},
            {"typ": EMAIL_URI, "val": "ada@contoso.com"},
            {"typ": "name", "val": "Ada Lovelace"},
            {"typ": OID_URI, "val": ADA_OID},
            {"typ": "preferred_username", "val": "ada@contoso.com"},
            {"typ": "roles", "val": "Orders.Admin"},
            {"typ": ROLE_URI, "val": "Orders.Reader"},
            {"typ": NAMEID_URI, "val": "kL9pQ2rS4tU6vW8xY0zA1bC3dE5fG7hI9jK1lM3nO5p"},
            {"typ": TENANT_URI, "val": "72f988bf-86f1-41af-91ab-2d7cd011db47"},
            {"typ": "ver", "val": "2.0"},
        ],
        "name_typ": EMAIL_URI,
        "role_typ": ROLE_URI,
    }
    principal.update(overrides)
    return {key: value for key, value in principal.items() if value is not None}


def oidc_principal_without_a_name_claim() -> dict[str, Any]:
    """A custom OpenID provider's principal: ``sub`` mapped to nameidentifier, no name claim."""
    return {
        "auth_typ": "contoso-oidc",
        "claims": [
            {"typ": "iss", "val": "https://login.contoso.example"},
            {"typ": NAMEID_URI, "val": "1003"},
            {"typ": "aud", "val": "1973559295"},
            {"typ": "nonce", "val": "14e401139b0547fcabba9faab208abed_20250412112857"},
        ],
        "name_typ": NAME_URI,
        "role_typ": ROLE_URI,
    }


def swa_principal(**overrides: Any) -> dict[str, Any]:
    """A Static Web Apps principal (GitHub sign-in, one custom role)."""
    principal: dict[str, Any] = {
        "identityProvider": "github",
        "userId": "d75b260a64504067bfc5b2905e3b8182",
        "userDetails": "octo-ada",
        "userRoles": ["anonymous", "authenticated", "Orders.Admin"],
    }
    principal.update(overrides)
    return {key: value for key, value in principal.items() if value is not None}


def encode(principal: object, *, slashes: bool = False) -> str:
    """Padded standard base64 of compact JSON, as App Service sends it."""
    text = json.dumps(principal, separators=(",", ":"))
    if slashes:  # some serializers escape "/" as "\/"; still the same JSON
        text = text.replace("/", "\\/")
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def encode_raw(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def padded() -> str:
    """An App Service principal whose base64 ends in padding."""
    principal = aad_principal()
    while "=" not in encode(principal):
        principal["claims"].append({"typ": "x", "val": "y"})
    return encode(principal)


def with_slash_or_plus() -> str:
    """An App Service principal whose base64 uses '+' or '/' (the letters base64url changes)."""
    principal = aad_principal()
    filler = ""
    while not set("+/") & set(encode(principal)):
        filler += "?"
        principal["claims"].append({"typ": "note", "val": filler + "~>"})
    return encode(principal)


def non_canonical() -> str:
    """The same bytes spelled with stray low bits in the last character before the padding."""
    text = padded()
    body = text.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(body[-1]) | 1
    spelled = body[:-1] + alphabet[last] + text[len(body) :]
    assert spelled != text
    assert base64.b64decode(spelled) == base64.b64decode(text)
    return spelled


def nested(depth: int) -> dict[str, Any]:
    deep: Any = "x"
    for _ in range(depth):
        deep = [deep]
    return aad_principal(extra=deep)


# -- the configuration ------------------------------------------------------------------

ROLES = {
    "admin": ["roles=Orders.Admin"],
    "reader": [{"claim": [ROLE_URI], "equals": "Orders.Reader"}],
    "staff": [f"groups={GROUP_STAFF}"],
    "contoso": [{"claim": [EMAIL_URI], "glob": "*@contoso.com"}],
}
ROUTES = {"/admin/*": ["admin"], "/healthz": "public", "/api/*": "authenticated"}


def mapping(**overrides: Any) -> dict[str, Any]:
    source = {"type": "azure-easyauth", "trust_unsigned": True}
    source.update(overrides.pop("source", {}))
    settings: dict[str, Any] = {
        "sources": [source],
        "replay": {"store": "memory"},
        "roles": ROLES,
        "routes": ROUTES,
    }
    settings.update(overrides)
    return settings


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    headers: tuple[tuple[str, str], ...]
    path: str
    expected: str  # "ok" or the refusal code
    subject: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return HOST + self.path

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


def case(
    id: str,
    value: str | None,
    expected: str,
    subject: str | None = None,
    *roles: str,
    path: str = "/api/orders",
) -> Case:
    headers = () if value is None else ((HEADER, value),)
    return Case(id, headers, path, expected, subject, tuple(sorted(roles)))


AADA = "ada@contoso.com"
SWA_ID = "d75b260a64504067bfc5b2905e3b8182"
#: An Entra ID principal with 500 groups: about 36 KiB once encoded.
TOO_LONG = encode(
    aad_principal(
        claims=[*aad_principal()["claims"], *[{"typ": "groups", "val": GROUP_STAFF}] * 500]
    )
)

CASES = [
    case("app-service-entra-id", encode(aad_principal()), "ok", AADA, "admin", "reader", "staff", "contoso"),
    case("app-service-admin-route", encode(aad_principal()), "ok", AADA, "admin", "reader", "staff", "contoso", path="/admin/users"),
    case("app-service-escaped-slashes", encode(aad_principal(), slashes=True), "ok", AADA, "admin", "reader", "staff", "contoso"),
    case("app-service-padded", padded(), "ok", AADA, "admin", "reader", "staff", "contoso"),
    case("app-service-no-name-typ-means-dotnet-default",
         encode({"auth_typ": "aad", "claims": [{"typ": NAME_URI, "val": "ada"}]}), "ok", "ada"),
    case("app-service-empty-name-typ-means-dotnet-default",
         encode({"auth_typ": "aad", "claims": [{"typ": NAME_URI, "val": "ada"}], "name_typ": "", "role_typ": ""}), "ok", "ada"),
    case("app-service-role-typ-claim-alone",
         encode({"auth_typ": "aad", "claims": [{"typ": NAME_URI, "val": "ada"}, {"typ": ROLE_URI, "val": "Orders.Admin"}], "name_typ": NAME_URI, "role_typ": ROLE_URI}),
         "ok", "ada", "admin", path="/admin/users"),
    case("app-service-without-roles-is-forbidden-on-admin",
         encode({"auth_typ": "aad", "claims": [{"typ": NAME_URI, "val": "ada"}], "name_typ": NAME_URI, "role_typ": ROLE_URI}),
         "forbidden", path="/admin/users"),
    case("static-web-apps", encode(swa_principal()), "ok", SWA_ID, "admin"),
    case("static-web-apps-admin-route", encode(swa_principal()), "ok", SWA_ID, "admin", path="/admin/users"),
    case("static-web-apps-authenticated-only",
         encode(swa_principal(userRoles=["anonymous", "authenticated"])), "forbidden", path="/admin/users"),
    case("static-web-apps-with-claims-list",
         encode(swa_principal(claims=[{"typ": "groups", "val": GROUP_STAFF}])), "ok", SWA_ID, "admin", "staff"),
    # -- no identity
    case("missing", None, "missing"),
    case("empty-is-missing", "", "missing"),
    case("public-route-without-header", None, "ok", path="/healthz"),
    # -- not App Service's base64
    case("unpadded", padded().rstrip("="), "malformed"),
    case("base64url-letters", with_slash_or_plus().translate(str.maketrans("+/", "-_")), "malformed"),
    case("non-canonical-pad-bits", non_canonical(), "malformed"),
    case("line-wrapped", padded()[:76] + " " + padded()[76:], "malformed"),
    case("not-base64", "eyJhdXRoX3R5cCI6ImFhZCJ9!", "malformed"),
    case("a-jwt-instead", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZGEifQ.", "malformed"),
    case("non-ascii", "eyJhdXRoX3R5cCI6ImFhZCJ9é", "malformed"),
    case("padding-only", "====", "malformed"),
    # -- not one JSON object
    case("not-json", encode_raw(b"ada@contoso.com"), "malformed"),
    case("json-array", encode([aad_principal()]), "malformed"),
    case("json-string", encode("ada"), "malformed"),
    case("json-null", encode(None), "malformed"),
    case("not-utf8", encode_raw(b'{"auth_typ":"\xff","claims":[]}'), "malformed"),
    case("duplicate-member", encode_raw(b'{"auth_typ":"aad","claims":[],"auth_typ":"x"}'), "malformed"),
    case("nested-too-deep", encode(nested(40)), "malformed"),
    # -- neither shape, or members of the wrong type
    case("neither-shape", encode({"sub": "ada", "roles": ["Orders.Admin"]}), "malformed"),
    case("both-shapes", encode(aad_principal(userId="d75b")), "malformed"),
    case("app-service-no-claims", encode({"auth_typ": "aad", "name_typ": NAME_URI}), "malformed"),
    case("claims-an-object", encode(aad_principal(claims={NAME_URI: "ada"})), "malformed"),
    case("claims-null", encode({"auth_typ": "aad", "claims": None}), "malformed"),
    case("claim-a-string", encode(aad_principal(claims=["ada"])), "malformed"),
    case("claim-typ-a-number", encode(aad_principal(claims=[{"typ": 5, "val": "ada"}])), "malformed"),
    case("claim-typ-empty", encode(aad_principal(claims=[{"typ": "", "val": "ada"}])), "malformed"),
    case("claim-typ-missing", encode(aad_principal(claims=[{"val": "ada"}])), "malformed"),
    case("claim-val-a-number", encode(aad_principal(claims=[{"typ": "SeriesId", "val": 10000}])), "malformed"),
    case("claim-val-null", encode(aad_principal(claims=[{"typ": EMAIL_URI, "val": None}])), "malformed"),
    case("claim-val-a-list", encode(aad_principal(claims=[{"typ": "roles", "val": ["Orders.Admin"]}])), "malformed"),
    case("auth-typ-a-number", encode(aad_principal(auth_typ=1)), "malformed"),
    case("auth-typ-null", encode(aad_principal(claims=[], name_typ=NAME_URI) | {"auth_typ": None}), "malformed"),
    case("name-typ-a-list", encode(aad_principal(name_typ=[EMAIL_URI])), "malformed"),
    case("role-typ-a-number", encode(aad_principal(role_typ=7)), "malformed"),
    case("swa-user-roles-a-string", encode(swa_principal(userRoles="Orders.Admin")), "malformed"),
    case("swa-user-roles-holds-a-number", encode(swa_principal(userRoles=["authenticated", 1])), "malformed"),
    case("swa-user-roles-missing", encode(swa_principal(userRoles=None)), "malformed"),
    case("swa-user-id-a-number", encode(swa_principal(userId=12345)), "malformed"),
    case("swa-identity-provider-missing", encode(swa_principal(identityProvider=None)), "malformed"),
    case("swa-claim-val-a-number", encode(swa_principal(claims=[{"typ": "SeriesId", "val": 10000}])), "malformed"),
    case("swa-claims-an-object", encode(swa_principal(claims={"typ": "a", "val": "b"})), "malformed"),
    # -- well-formed, but naming no one
    case("no-claim-of-name-typ", encode(oidc_principal_without_a_name_claim()), "incomplete_claims"),
    case("name-claim-twice-names-no-one-user",
         encode(aad_principal(claims=[{"typ": EMAIL_URI, "val": "ada@contoso.com"}, {"typ": EMAIL_URI, "val": "eve@contoso.com"}])),
         "incomplete_claims"),
    case("name-blank", encode(aad_principal(claims=[{"typ": EMAIL_URI, "val": "  "}])), "incomplete_claims"),
    case("name-with-line-break-forges-log-lines",
         encode(aad_principal(claims=[{"typ": EMAIL_URI, "val": "ada\nsubject=admin"}])), "incomplete_claims"),
    case("swa-user-id-empty", encode(swa_principal(userId="")), "incomplete_claims"),
    # -- size and repetition
    case("too-large", TOO_LONG, "too_large"),
]  # fmt: skip

TWICE = Case(
    "sent-twice",
    ((HEADER, encode(aad_principal())), (HEADER, encode(swa_principal()))),
    "/api/orders",
    "ambiguous",
)
ALL_CASES = [c.param() for c in (*CASES, TWICE)]


def test_the_too_large_case_is_too_large_and_only_that() -> None:
    assert len(TOO_LONG) > 32768
    # Within a raised limit it is an ordinary principal: only its size refused it.
    engine = Engine(mapping(source={"max_principal_bytes": 65536}))
    outcome = engine.decide(
        RequestView.from_asgi(build_asgi_scope("GET", HOST + "/api/x", {HEADER: TOO_LONG}))
    )
    assert outcome.code is None
    assert outcome.identity is not None
    assert outcome.identity.subject == AADA


# -- the entry points ------------------------------------------------------------------------


def app_view(identity: Any, header_names: list[str]) -> dict[str, Any]:
    return {
        "sub": identity.subject if identity else None,
        "roles": sorted(identity.roles) if identity else [],
        "seen": sorted(
            name.lower().replace("_", "-")
            for name in header_names
            if name.lower().replace("_", "-").startswith("x-ms-")
        ),
    }


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    names = [k.removeprefix("HTTP_") for k in environ if k.startswith("HTTP_")]
    body = app_view(environ["edgeclaims.identity"], names)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    names = [name.decode("latin-1") for name, _ in scope["headers"]]
    body = json.dumps(app_view(scope["edgeclaims.identity"], names)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_headers(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> dict[str, str]:
    """What a WSGI server makes of repeated lines: one value, joined with ", " (waitress)."""
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def call_wsgi(
    middleware: WSGIMiddleware,
    url: str,
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    *,
    peer: str = "127.0.0.1",
) -> tuple[int, dict[str, Any]]:
    statuses: list[str] = []
    environ = build_wsgi_environ("GET", url, wsgi_headers(headers))
    environ["REMOTE_ADDR"] = peer
    body = b"".join(middleware(environ, lambda s, h, e=None: statuses.append(s)))
    return int(statuses[0].split()[0]), json.loads(body)


def call_asgi(
    middleware: ASGIMiddleware,
    url: str,
    headers: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    *,
    peer: str = "127.0.0.1",
) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = build_asgi_scope("GET", url, list(headers))
    scope["client"] = (peer, 50000)
    asyncio.run(middleware(scope, receive, send))
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def verdict(status: int, body: dict[str, Any]) -> tuple[str, str | None, tuple[str, ...]]:
    if status == 200:
        return ("ok", body["sub"], tuple(body["roles"]))
    return (body["code"], None, ())


def expected(c: Case) -> tuple[str, str | None, tuple[str, ...]]:
    return (c.expected, c.subject, c.roles) if c.expected == "ok" else (c.expected, None, ())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(mapping())


@pytest.fixture(scope="module")
def wsgi() -> WSGIMiddleware:
    return WSGIMiddleware(wsgi_app, mapping())


@pytest.fixture(scope="module")
def asgi() -> ASGIMiddleware:
    return ASGIMiddleware(asgi_app, mapping())


@pytest.mark.parametrize("c", ALL_CASES)
def test_engine(engine: Engine, c: Case) -> None:
    outcome = engine.decide(RequestView.from_asgi(build_asgi_scope("GET", c.url, list(c.headers))))
    identity = outcome.identity
    got = (
        (
            "ok",
            identity.subject if identity else None,
            tuple(sorted(identity.roles)) if identity else (),
        )
        if outcome.refusal is None
        else (outcome.refusal.code, None, ())
    )
    assert got == expected(c)


@pytest.mark.parametrize("c", ALL_CASES)
def test_wsgi(wsgi: WSGIMiddleware, c: Case) -> None:
    status, body = call_wsgi(wsgi, c.url, c.headers)
    assert verdict(status, body) == expected(c)
    if status == 200:
        assert body["seen"] == []


@pytest.mark.parametrize("c", ALL_CASES)
def test_asgi(asgi: ASGIMiddleware, c: Case) -> None:
    status, body = call_asgi(asgi, c.url, c.headers)
    assert verdict(status, body) == expected(c)
    if status == 200:
        assert body["seen"] == []


def test_refusal_statuses() -> None:
    wsgi = WSGIMiddleware(wsgi_app, mapping())
    for value, status in (("not base64!", 401), (TOO_LONG, 431), (encode({"x": 1}), 401)):
        assert call_wsgi(wsgi, HOST + "/api/x", [(HEADER, value)])[0] == status


# -- Django ------------------------------------------------------------------------------------


def django_view(request: Any) -> Any:
    from django.http import JsonResponse

    names = [*request.headers.keys(), *(k[5:] for k in request.META if k.startswith("HTTP_"))]
    return JsonResponse(app_view(request.edgeclaims, names))


urlpatterns: list[Any] = []


@pytest.fixture(scope="module")
def django_client() -> Iterator[Any]:
    """Django's test client on a URLconf of one view, the engine built from settings.EDGECLAIMS."""
    contrib = Path(__file__).resolve().parent / "contrib"
    if str(contrib) not in sys.path:  # django_project and contrib_tables live there
        sys.path.insert(0, str(contrib))
    from contrib_tables import framework

    django = framework("django")
    os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
    django.setup()
    from django.test import Client, override_settings
    from django.urls import re_path

    urlpatterns[:] = [re_path(r"^.*$", django_view)]
    with override_settings(ROOT_URLCONF=__name__, EDGECLAIMS=mapping(), ALLOWED_HOSTS=["*"]):
        yield Client()


def call_django(
    client: Any, url: str, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    path = url.removeprefix(HOST)
    response = client.get(
        path, headers=wsgi_headers(headers), secure=True, HTTP_HOST="orders.azurewebsites.net"
    )
    return response.status_code, json.loads(response.content)


@pytest.mark.parametrize("c", ALL_CASES)
def test_django(django_client: Any, c: Case) -> None:
    status, body = call_django(django_client, c.url, c.headers)
    assert verdict(status, body) == expected(c)
    if status == 200:
        assert body["seen"] == []


# -- claims ----------------------------------------------------------------------------------


def claims_of(value: str, **source: Any) -> dict[str, Any]:
    """The claims the source verifies (as the engine gets them, before Identity freezes them)."""
    verifier = load_config(mapping(source=source)).sources[0]
    view = RequestView.from_asgi(build_asgi_scope("GET", HOST + "/api/x", {HEADER: value}))
    return verifier.verify(view, 0.0).claims


def test_app_service_claims_by_typ() -> None:
    claims = claims_of(encode(aad_principal()))
    assert claims["groups"] == [GROUP_STAFF, GROUP_FINANCE]  # seen twice: a list, in order
    assert claims[OID_URI] == ADA_OID  # seen once: the string
    assert claims["name"] == "Ada Lovelace"
    # role_typ's values, then Entra ID's app roles kept under "roles"
    assert claims["roles"] == ["Orders.Reader", "Orders.Admin"]
    assert claims[ROLE_URI] == "Orders.Reader"
    assert claims["auth_typ"] == "aad"
    assert not {"name_typ", "role_typ", "claims"} & set(claims)


def test_roles_is_always_a_list() -> None:
    lone = {"auth_typ": "aad", "claims": [{"typ": NAME_URI, "val": "ada"}]}
    assert claims_of(encode(lone))["roles"] == []
    repeated = {
        "auth_typ": "aad",
        "claims": [
            {"typ": NAME_URI, "val": "ada"},
            {"typ": "roles", "val": "A"},
            {"typ": ROLE_URI, "val": "A"},
        ],
        "role_typ": ROLE_URI,
    }
    assert claims_of(encode(repeated))["roles"] == ["A"]


def test_role_typ_roles_is_not_counted_twice() -> None:
    principal = {
        "auth_typ": "aad",
        "claims": [{"typ": NAME_URI, "val": "ada"}, {"typ": "roles", "val": "A"}],
        "role_typ": "roles",
    }
    assert claims_of(encode(principal))["roles"] == ["A"]


def test_static_web_apps_claims() -> None:
    principal = swa_principal(
        claims=[{"typ": "userId", "val": "forged"}, {"typ": "name", "val": "Ada"}]
    )
    claims = claims_of(encode(principal))
    assert claims == {
        "identityProvider": "github",
        "userId": SWA_ID,  # the platform's field wins over a claim of the same typ
        "userDetails": "octo-ada",
        "roles": ["anonymous", "authenticated", "Orders.Admin"],
        "name": "Ada",
    }


@pytest.mark.parametrize(
    ("principal", "subject_claim", "subject"),
    [
        pytest.param(aad_principal(), OID_URI, ADA_OID, id="entra-object-id"),
        pytest.param(
            oidc_principal_without_a_name_claim(), NAMEID_URI, "1003", id="custom-oidc-sub"
        ),
        pytest.param(swa_principal(), "userDetails", "octo-ada", id="swa-user-details"),
    ],
)
def test_subject_claim(principal: dict[str, Any], subject_claim: str, subject: str) -> None:
    engine = Engine(mapping(source={"subject_claim": subject_claim}))
    view = RequestView.from_asgi(
        build_asgi_scope("GET", HOST + "/api/x", {HEADER: encode(principal)})
    )
    outcome = engine.decide(view)
    assert outcome.identity is not None
    assert outcome.identity.subject == subject


def test_required_claims() -> None:
    engine = Engine(mapping(source={"required_claims": [TENANT_URI]}))

    def code(principal: dict[str, Any]) -> str | None:
        view = RequestView.from_asgi(
            build_asgi_scope("GET", HOST + "/api/x", {HEADER: encode(principal)})
        )
        return engine.decide(view).code

    assert code(aad_principal()) is None
    assert code(swa_principal()) == "incomplete_claims"


def test_no_replay_ticket_and_the_same_principal_is_accepted_again() -> None:
    engine = Engine(mapping())
    source = engine.sources[0]
    view = RequestView.from_asgi(
        build_asgi_scope("GET", HOST + "/api/x", {HEADER: encode(aad_principal())})
    )
    assert source.verify(view, 0.0).replay is None
    assert source.verify(view, 0.0).key_id is None
    assert [engine.decide(view).code for _ in range(3)] == [None, None, None]


# -- trusted_peers --------------------------------------------------------------------------

PEERS = {"trusted_peers": ["169.254.129.0/24", "10.0.0.0/8"]}


@pytest.mark.parametrize(
    ("peer", "path", "code"),
    [
        pytest.param("169.254.129.3", "/api/orders", None, id="app-service-front-end"),
        pytest.param("10.1.2.3", "/admin/users", None, id="vnet-peer"),
        pytest.param("203.0.113.9", "/api/orders", "untrusted_peer", id="direct-to-the-app"),
        pytest.param("203.0.113.9", "/admin/users", "untrusted_peer", id="direct-to-admin"),
        pytest.param("127.0.0.1", "/api/orders", "untrusted_peer", id="loopback-is-not-listed"),
    ],
)
def test_trusted_peers_refuse_a_principal_from_any_other_peer(
    peer: str, path: str, code: str | None
) -> None:
    headers = [(HEADER, encode(aad_principal()))]
    wsgi = WSGIMiddleware(wsgi_app, mapping(**PEERS))
    asgi = ASGIMiddleware(asgi_app, mapping(**PEERS))
    for status, body in (
        call_wsgi(wsgi, HOST + path, headers, peer=peer),
        call_asgi(asgi, HOST + path, headers, peer=peer),
    ):
        if code is None:
            assert (status, body["sub"]) == (200, AADA)
        else:
            assert (status, body["code"]) == (401, code)


# -- unsigned convenience headers --------------------------------------------------------------

UNSIGNED = {
    "X-MS-CLIENT-PRINCIPAL-NAME": "mallory@contoso.com",
    "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-000000000666",
    "X-MS-CLIENT-PRINCIPAL-IDP": "aad",
    "X-MS-TOKEN-AAD-ACCESS-TOKEN": "eyJ0eXAiOiJKV1QifQ.e30.",
    "X-MS-TOKEN-AAD-ID-TOKEN": "eyJ0eXAiOiJKV1QifQ.e30.",
    "X-MS-TOKEN-AAD-EXPIRES-ON": "2026-12-04T05:00:00.0000000Z",
}
#: Headers that merely look alike: kept.
KEPT = {"X-MS-CLIENT-IP": "203.0.113.9", "X-MS-TOKENSTORE": "kept"}


def test_unsigned_headers_are_removed_wsgi() -> None:
    wsgi = WSGIMiddleware(wsgi_app, mapping())
    headers = [(HEADER, encode(aad_principal())), *UNSIGNED.items(), *KEPT.items()]
    status, body = call_wsgi(wsgi, HOST + "/api/x", headers)
    assert (status, body["seen"]) == (200, ["x-ms-client-ip", "x-ms-tokenstore"])


def test_unsigned_headers_are_removed_asgi_in_every_spelling() -> None:
    asgi = ASGIMiddleware(asgi_app, mapping())
    spelled = [(name.replace("-", "_").lower(), value) for name, value in UNSIGNED.items()]
    headers = [(HEADER, encode(aad_principal())), *UNSIGNED.items(), *spelled, *KEPT.items()]
    status, body = call_asgi(asgi, HOST + "/api/x", headers)
    assert (status, body["seen"]) == (200, ["x-ms-client-ip", "x-ms-tokenstore"])


def test_unsigned_headers_are_removed_django(django_client: Any) -> None:
    headers = [(HEADER, encode(swa_principal())), *UNSIGNED.items(), *KEPT.items()]
    status, body = call_django(django_client, HOST + "/api/x", headers)
    assert status == 200
    assert set(body["seen"]) == {"x-ms-client-ip", "x-ms-tokenstore"}


def test_unsigned_headers_are_removed_from_refused_and_public_requests() -> None:
    wsgi = WSGIMiddleware(wsgi_app, mapping())
    status, body = call_wsgi(wsgi, HOST + "/healthz", list(UNSIGNED.items()))
    assert (status, body["seen"], body["sub"]) == (200, [], None)


def test_unsigned_headers_alone_are_not_an_identity() -> None:
    wsgi = WSGIMiddleware(wsgi_app, mapping())
    status, body = call_wsgi(wsgi, HOST + "/api/x", list(UNSIGNED.items()))
    assert (status, body["code"]) == (401, "missing")


def test_the_source_names_its_headers() -> None:
    source = load_config(mapping()).sources[0]
    assert source.trigger_headers == ("x-ms-client-principal",)
    assert set(source.stripped_headers) == {
        "x-ms-client-principal",
        "x-ms-client-principal-name",
        "x-ms-client-principal-id",
        "x-ms-client-principal-idp",
        "x-ms-token-*",
    }


# -- nothing but the subject is shown --------------------------------------------------------


def test_logs_and_refusals_show_no_claim_value(caplog: pytest.LogCaptureFixture) -> None:
    wsgi = WSGIMiddleware(wsgi_app, mapping())
    secretive = aad_principal(
        claims=[
            {"typ": EMAIL_URI, "val": "ada@contoso.com"},
            {"typ": "groups", "val": GROUP_FINANCE},
        ]
    )
    bad = encode(
        aad_principal(claims=[{"typ": "groups", "val": GROUP_FINANCE}, {"typ": "n", "val": 1}])
    )
    with caplog.at_level(logging.DEBUG, logger="edgeclaims"):
        ok = call_wsgi(wsgi, HOST + "/api/x", [(HEADER, encode(secretive))])
        refused = call_wsgi(wsgi, HOST + "/api/x", [(HEADER, bad)])
    assert (ok[0], refused[0]) == (200, 401)
    text = caplog.text + json.dumps(refused[1])
    assert "ada@contoso.com" in caplog.text  # the subject, and nothing else
    for shown in (GROUP_FINANCE, bad, encode(secretive)):
        assert shown not in text
    source = load_config(mapping()).sources[0]
    assert GROUP_FINANCE not in repr(source)


# -- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "path", "says"),
    [
        pytest.param({}, "sources[0].trust_unsigned", "is required", id="trust-unsigned-missing"),
        pytest.param({"trust_unsigned": False}, "sources[0].trust_unsigned", "must be true", id="trust-unsigned-false"),
        pytest.param({"trust_unsigned": "true"}, "sources[0].trust_unsigned", "true or false", id="trust-unsigned-a-string"),
        pytest.param({"trust_unsigned": True, "max_principal_bytes": 100}, "sources[0].max_principal_bytes", "at least 256", id="max-bytes-tiny"),
        pytest.param({"trust_unsigned": True, "subject_claim": ""}, "sources[0].subject_claim", "must name a claim", id="subject-claim-empty"),
        pytest.param({"trust_unsigned": True, "required_claims": [""]}, "sources[0].required_claims[0]", "must name a claim", id="required-claim-empty"),
        pytest.param({"trust_unsigned": True, "audience": "x"}, "sources[0].audience", "unknown setting", id="unknown-setting"),
        pytest.param({"trust_unsigned": True, "replay_jti": True}, "sources[0].replay_jti", "unknown setting", id="no-replay-setting"),
    ],
)  # fmt: skip
def test_configuration_errors_name_the_setting(table: dict[str, Any], path: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({"sources": [{"type": "azure-easyauth", **table}], "replay": {"store": "off"}})
    assert caught.value.path == path
    assert says in caught.value.problem


def test_the_error_without_trust_unsigned_says_why() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({"sources": [{"type": "azure-easyauth"}]})
    assert "not signed" in str(caught.value)
    assert "trusted_peers" in str(caught.value)


def test_defaults() -> None:
    source = load_config(mapping()).sources[0]
    assert isinstance(source, EasyAuthSource)
    assert (source.type, source.name, source.max_principal_bytes) == (
        "azure-easyauth",
        "azure-easyauth",
        32768,
    )
    assert "azure-easyauth" in SOURCE_MODULES


def test_config_warnings_show_w011() -> None:
    warnings = config_warnings(load_config(mapping(replay={"store": "sqlite", "path": ":memory:"})))
    w011 = [w for w in warnings if w.id == "W011"]
    assert len(w011) == 1
    assert w011[0].message.startswith("sources[0] (azure-easyauth): trust_unsigned = true")
    assert "trusted_peers" in w011[0].message
    # The other sources do not carry it.
    assert "W011" not in {
        w.id
        for w in config_warnings(
            load_config(
                {
                    "sources": [
                        {"type": "jws", "keys": [{"id": "k", "alg": "ES256", "public_key": _pem()}]}
                    ]
                }
            )
        )
    }


def _pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


CONFIG_TOML = """\
[edgeclaims]
default_route = "authenticated"

[[edgeclaims.sources]]
type = "azure-easyauth"
trust_unsigned = true

[edgeclaims.replay]
store = "off"

[edgeclaims.roles]
admin = ["roles=Orders.Admin"]

[edgeclaims.routes]
"/admin/*" = ["admin"]
"""


def test_cli_check_shows_w011(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "edgeclaims.toml"
    config.write_text(CONFIG_TOML)
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "warning W011: sources[0] (azure-easyauth): trust_unsigned = true" in out


def test_cli_check_refuses_without_trust_unsigned(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "edgeclaims.toml"
    config.write_text(CONFIG_TOML.replace("trust_unsigned = true\n", ""))
    assert main(["check", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "sources[0].trust_unsigned" in captured.out + captured.err


@pytest.mark.parametrize(
    ("value", "code", "hint"),
    [
        pytest.param("not-base64!", "malformed", "padded standard base64", id="malformed"),
        pytest.param(
            encode(oidc_principal_without_a_name_claim()),
            "incomplete_claims",
            "subject_claim",
            id="no-name",
        ),
        pytest.param(TOO_LONG, "too_large", "max_principal_bytes", id="too-large"),
    ],
)
def test_cli_verify_hints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, code: str, hint: str
) -> None:
    config = tmp_path / "edgeclaims.toml"
    config.write_text(CONFIG_TOML)
    status = main(
        ["verify", "--config", str(config), "--url", HOST + "/api/x", "-H", f"{HEADER}: {value}"]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert f"✗ {code}:" in out
    hint_line = next(line for line in out.splitlines() if line.strip().startswith("hint:"))
    assert hint in hint_line


def test_cli_verify_accepts_and_shows_only_the_subject(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "edgeclaims.toml"
    config.write_text(CONFIG_TOML)
    value = encode(aad_principal())
    status = main(
        ["verify", "--config", str(config), "--url", HOST + "/admin/x", "-H", f"{HEADER}: {value}"]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "app-service shape" in out
    assert "verdict: accepted — subject 'ada@contoso.com' via azure-easyauth" in out
    assert "✓ roles: admin" in out
    assert GROUP_FINANCE not in out
    assert ADA_OID not in out


# -- edgeclaims.testing.easyauth_principal ---------------------------------------------------------


@pytest.mark.parametrize("shape", ["app-service", "static-web-apps"])
def test_helper_builds_what_the_source_accepts(shape: str) -> None:
    headers = easyauth_principal(
        "ada", roles=["Orders.Admin"], claims={"groups": [GROUP_STAFF, GROUP_FINANCE]}, shape=shape
    )
    value = headers[HEADER]
    # Padded standard base64, canonical, of one JSON object.
    decoded = base64.b64decode(value, validate=True)
    assert base64.b64encode(decoded).decode() == value
    assert isinstance(json.loads(decoded), dict)
    pairs = list(headers.items())
    answers = [
        call_wsgi(WSGIMiddleware(wsgi_app, mapping()), HOST + "/admin/x", pairs),
        call_asgi(ASGIMiddleware(asgi_app, mapping()), HOST + "/admin/x", pairs),
    ]
    for status, body in answers:
        assert (status, body["sub"], body["roles"]) == (200, "ada", ["admin", "staff"])


def test_helper_app_service_shape() -> None:
    principal = json.loads(base64.b64decode(easyauth_principal("ada", roles=["R"])[HEADER]))
    assert principal == {
        "auth_typ": "aad",
        "claims": [{"typ": NAME_URI, "val": "ada"}, {"typ": ROLE_URI, "val": "R"}],
        "name_typ": NAME_URI,
        "role_typ": ROLE_URI,
    }


def test_helper_refuses_an_unknown_shape() -> None:
    with pytest.raises(ValueError, match="static-web-apps"):
        easyauth_principal("ada", shape="container-apps")


def test_trusted_peers_also_keep_an_unsigned_principal_off_public_routes() -> None:
    engine = Engine(mapping(**PEERS))
    scope = build_asgi_scope("GET", HOST + "/healthz", {HEADER: encode(aad_principal())})
    scope["client"] = ("203.0.113.9", 50000)
    outcome = engine.decide(RequestView.from_asgi(scope))
    assert outcome.identity is None
    assert outcome.refusal is not None
    assert outcome.refusal.code == "untrusted_peer"
    # From a trusted peer the same principal is the identity, public route or not.
    scope["client"] = ("10.1.2.3", 50000)
    trusted = engine.decide(RequestView.from_asgi(scope))
    assert trusted.refusal is None
    assert trusted.identity is not None


def test_an_ipv4_mapped_peer_matches_ipv4_trusted_peers() -> None:
    # A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    engine = Engine(mapping(**PEERS))
    scope = build_asgi_scope("GET", HOST + "/healthz", {HEADER: encode(aad_principal())})
    scope["client"] = ("::ffff:10.1.2.3", 50000)
    assert engine.decide(RequestView.from_asgi(scope)).refusal is None
    scope["client"] = ("::ffff:203.0.113.9", 50000)
    refused = engine.decide(RequestView.from_asgi(scope)).refusal
    assert refused is not None
    assert refused.code == "untrusted_peer"
