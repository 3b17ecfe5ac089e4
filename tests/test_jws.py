"""The ``jws`` source (spec/signed-headers.md §2): accepted tokens, the attack table, claims,
request binding, jti replay, the verified-token cache and configuration.

Every source here is built by ``from_table`` from a configuration table and
called directly with a ``RequestView`` (no engine, no framework). The helpers
at the top are shared with tests/test_jwks.py.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm

from edgeclaims.config_table import Table
from edgeclaims.errors import AlgorithmNotAllowed, ConfigurationError, Expired, VerificationError
from edgeclaims.jose import ALGORITHMS, b64url_encode, sign_jws
from edgeclaims.jwks import jwks_document
from edgeclaims.request import RequestView
from edgeclaims.sources import ReplayTicket, parse_source_config
from edgeclaims.sources.jws import JWSSource, from_table

NOW = 1_795_731_572
ISSUER = "https://edge.example.com"
AUDIENCE = "orders-app"
ORIGIN = "https://app.example.com"

EC_PRIVATE = ec.derive_private_key(0xC0FFEE_5EED, ec.SECP256R1())
EC_OTHER = ec.derive_private_key(0xBAD_C0DE, ec.SECP256R1())
EC384_PRIVATE = ec.derive_private_key(0x5EED_384, ec.SECP384R1())
ED_PRIVATE = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
HMAC_SECRET = bytes(range(32))
# One RSA key for the whole run: generating one costs tens of milliseconds.
RSA_PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(private: Any) -> str:
    """The PEM of a private key's public half."""
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims at ``NOW``; ``None`` values are removed."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "groups": ["staff"],
        "iat": NOW - 10,
        "exp": NOW + 300,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def es256(payload: dict[str, Any] | None = None, *, kid: str = "ec-1", **headers: Any) -> str:
    return sign_jws(claims() if payload is None else payload, kid, "ES256", EC_PRIVATE, headers)


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token with any header at all, and a given (possibly empty) signature."""
    return ".".join(
        (
            b64url_encode(json.dumps(header).encode()),
            b64url_encode(json.dumps(payload).encode()),
            b64url_encode(signature),
        )
    )


def config(**overrides: Any) -> dict[str, Any]:
    """A jws source table with one ES256, one RS256 and one Ed25519 key."""
    table: dict[str, Any] = {
        "type": "jws",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": [
            {"id": "ec-1", "alg": "ES256", "public_key": pem(EC_PRIVATE)},
            {"id": "rsa-1", "alg": "RS256", "public_key": pem(RSA_PRIVATE)},
            {"id": "ed-1", "alg": "EdDSA", "public_key": pem(ED_PRIVATE)},
        ],
    }
    table.update(overrides)
    return {name: value for name, value in table.items() if value is not None}


def build(replay_enabled: bool = True, base_dir: Path | None = None, **overrides: Any) -> JWSSource:
    table = Table(config(**overrides), "sources[0]")
    assert table.str("type") == "jws"  # read by parse_source_config in real use
    source = from_table(table, base_dir=base_dir or Path.cwd(), replay_enabled=replay_enabled)
    table.refuse_unknown()
    return source


def view(
    token: str | None = None,
    *,
    method: str = "GET",
    scheme: str = "https",
    authority: str = "app.example.com",
    path: str = "/api/orders",
    query: str | None = None,
    headers: dict[str, list[str]] | None = None,
) -> RequestView:
    """A request as the origin sees it, carrying ``token`` in X-Edge-Jwt."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["x-edge-jwt"] = [token]
    return RequestView(
        method=method,
        scheme=scheme,
        authority=authority,
        raw_path=path,
        raw_query=query,
        route_path=path,
        peer=None,
        headers=all_headers,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_raw(header: bytes, payload: bytes, alg: str = "ES256", key: Any = EC_PRIVATE) -> str:
    """A correctly signed token over header and payload *texts* given verbatim."""
    signing_input = b64(header) + "." + b64(payload)
    return signing_input + "." + b64(ALGORITHMS[alg].sign(key, signing_input.encode()))


def code_of(source: JWSSource, token: str, request: RequestView | None = None) -> str:
    try:
        source.verify(request or view(token), NOW)
    except VerificationError as exc:
        return exc.code
    return "ok"


# -- accepted tokens ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "kid", "key"),
    [
        ("ES256", "ec-1", EC_PRIVATE),
        ("RS256", "rsa-1", RSA_PRIVATE),
        ("EdDSA", "ed-1", ED_PRIVATE),
    ],
    ids=["es256", "rs256", "eddsa"],
)
def test_valid_token_is_accepted(alg: str, kid: str, key: Any) -> None:
    source = build()
    token = sign_jws(claims(), kid, alg, key)
    assertion = source.verify(view(token), NOW)
    assert assertion.claims == claims()
    assert assertion.key_id == kid
    assert assertion.replay is None


def test_hmac_key_and_single_key_without_kid() -> None:
    source = build(keys=[{"id": "hs", "alg": "HS512", "secret": "hex:" + bytes(64).hex()}])
    token = sign_jws(claims(), None, "HS512", bytes(64))
    assert source.verify(view(token), NOW).key_id == "hs"


def test_trace_tells_each_step() -> None:
    steps: list[str] = []
    build().verify(view(es256()), NOW, lambda step, _: steps.append(step))
    assert steps == ["key", "signature", "claims"]


# -- RFC 7515 Appendix A ----------------------------------------------------------------

RFC7515 = json.loads((Path(__file__).parent / "vectors" / "rfc7515_appendix_a.json").read_text())


def _rfc7515_source(name: str) -> JWSSource:
    vector = RFC7515["vectors"][name]
    return build(
        issuer="joe",
        audience=None,
        keys=[{"id": "rfc7515", "alg": vector["alg"], "jwk": vector["jwk"]}],
        subject_claim="iss",  # the RFC's example claims have no sub
    )


@pytest.mark.parametrize("name", ["A.1", "A.2", "A.3"])
def test_rfc7515_appendix_a_verifies_with_the_clock_frozen(name: str) -> None:
    source = _rfc7515_source(name)
    token = RFC7515["vectors"][name]["token"]
    assertion = source.verify(view(token), RFC7515["frozen_clock"])
    assert assertion.claims == {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
    # The same token once its exp has passed.
    with pytest.raises(Expired):
        _rfc7515_source(name).verify(view(token), 1300819380 + 60)


def test_rfc7515_appendix_a4_verifies_at_the_jws_layer() -> None:
    # A.4's payload is the bytes "Payload", not a JWT: the JWS layer alone.
    jws, key = _rfc7515_source("A.4").verify_signature(RFC7515["vectors"]["A.4"]["token"])
    assert jws.payload() == b"Payload"
    assert key.alg == "ES512"


@pytest.mark.parametrize("name", ["A.1", "A.2", "A.3", "A.4"])
def test_rfc7515_appendix_a5_unsecured_is_refused(name: str) -> None:
    token = RFC7515["vectors"]["A.5"]["token"]
    with pytest.raises(AlgorithmNotAllowed):
        _rfc7515_source(name).verify(view(token), RFC7515["frozen_clock"])


# -- the attack table -------------------------------------------------------------------

HS_RSA_EC = {
    "algorithms": ["HS256", "RS256", "ES256"],
    "keys": [
        {"id": "hs-1", "alg": "HS256", "secret": "hex:" + HMAC_SECRET.hex()},
        {"id": "ec-1", "alg": "ES256", "public_key": pem(EC_PRIVATE)},
        {"id": "rsa-1", "alg": "RS256", "public_key": pem(RSA_PRIVATE)},
    ],
}


def _none(casing: str) -> str:
    return unsigned({"alg": casing, "kid": "ec-1"}, claims())


def _padded() -> str:
    return ".".join(segment + "=" * (-len(segment) % 4) for segment in es256().split("."))


def _json_serialization() -> str:
    header, payload, signature = es256().split(".")
    return json.dumps({"payload": payload, "protected": header, "signature": signature})


def _non_canonical_signature() -> str:
    header, payload, signature = es256().split(".")
    assert len(signature) % 4 == 2  # 64 bytes: the last character carries 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) | 1]  # same bytes, another text
    return f"{header}.{payload}.{signature[:-1]}{last}"


def _with_signature(token: str, signature: bytes) -> str:
    return token.rsplit(".", 1)[0] + "." + b64(signature)


def _ec_jwk(private: Any) -> dict[str, Any]:
    return json.loads(ECAlgorithm.to_jwk(private.public_key()))


ATTACKS: list[tuple[str, Any, str, dict[str, Any]]] = [
    ("alg-none-lower", lambda: _none("none"), "algorithm_not_allowed", {}),
    ("alg-none-title", lambda: _none("None"), "algorithm_not_allowed", {}),
    ("alg-none-upper", lambda: _none("NONE"), "algorithm_not_allowed", {}),
    ("alg-none-mixed", lambda: _none("nOnE"), "algorithm_not_allowed", {}),
    (
        "hs256-signed-with-rsa-public-key",
        lambda: sign_jws(claims(), "rsa-1", "HS256", pem(RSA_PRIVATE).encode()),
        "algorithm_not_allowed",
        {},
    ),
    (
        "hs256-signed-with-ec-public-key",
        lambda: sign_jws(claims(), "ec-1", "HS256", pem(EC_PRIVATE).encode()),
        "algorithm_not_allowed",
        {},
    ),
    (
        "hs256-with-rsa-public-key-where-hs256-is-allowed",
        lambda: sign_jws(claims(), "rsa-1", "HS256", pem(RSA_PRIVATE).encode()),
        "algorithm_not_allowed",
        HS_RSA_EC,
    ),
    (
        "token-alg-differs-from-key-alg",
        lambda: sign_jws(claims(), "ec-1", "ES384", EC384_PRIVATE),
        "algorithm_not_allowed",
        {"algorithms": ["ES256", "ES384", "RS256", "EdDSA"]},
    ),
    (
        "rs256-token-on-ec-key",
        lambda: sign_jws(claims(), "ec-1", "RS256", RSA_PRIVATE),
        "algorithm_not_allowed",
        {},
    ),
    (
        "embedded-jwk-with-known-kid",
        lambda: sign_jws(claims(), "ec-1", "ES256", EC_OTHER, {"jwk": _ec_jwk(EC_OTHER)}),
        "bad_signature",
        {},
    ),
    (
        "embedded-jwk-without-kid",
        lambda: sign_jws(claims(), None, "ES256", EC_OTHER, {"jwk": _ec_jwk(EC_OTHER)}),
        "unknown_key",
        {},
    ),
    (
        "jku-pointing-elsewhere",
        lambda: sign_jws(
            claims(), "evil", "ES256", EC_OTHER, {"jku": "https://evil.example/jwks.json"}
        ),
        "unknown_key",
        {},
    ),
    (
        "jku-with-known-kid",
        lambda: sign_jws(
            claims(), "ec-1", "ES256", EC_OTHER, {"jku": "https://evil.example/jwks.json"}
        ),
        "bad_signature",
        {},
    ),
    (
        "x5u-and-x5c",
        lambda: sign_jws(
            claims(), "ec-1", "ES256", EC_OTHER, {"x5u": "https://evil.example/c", "x5c": ["MII"]}
        ),
        "bad_signature",
        {},
    ),
    (
        "kid-path-traversal",
        lambda: sign_jws(claims(), "../../../../../../dev/null", "ES256", EC_OTHER),
        "unknown_key",
        {},
    ),
    (
        "kid-path-with-empty-hmac",
        lambda: _kid_null_hmac(),
        "algorithm_not_allowed",
        {},
    ),
    (
        "kid-sql-injection",
        lambda: sign_jws(claims(), "x' UNION SELECT 'secret' --", "ES256", EC_OTHER),
        "unknown_key",
        {},
    ),
    (
        "crit-unknown",
        lambda: sign_jws(claims(), "ec-1", "ES256", EC_PRIVATE, {"crit": ["exp"], "exp": 1}),
        "unsupported",
        {},
    ),
    ("b64-false", lambda: es256(b64=False), "unsupported", {}),
    ("missing-exp", lambda: es256(claims(exp=None)), "malformed", {}),
    ("exp-not-a-number", lambda: es256(claims(exp=str(NOW + 300))), "malformed", {}),
    ("exp-is-boolean", lambda: es256(claims(exp=True)), "malformed", {}),
    ("expired", lambda: es256(claims(exp=NOW - 6)), "expired", {}),
    ("nbf-in-the-future", lambda: es256(claims(nbf=NOW + 6)), "not_yet_valid", {}),
    ("iat-in-the-future", lambda: es256(claims(iat=NOW + 6)), "not_yet_valid", {}),
    ("issuer-substring", lambda: es256(claims(iss="https://edge.example.co")), "bad_issuer", {}),
    ("issuer-prefix", lambda: es256(claims(iss="https://edge")), "bad_issuer", {}),
    (
        "issuer-superstring",
        lambda: es256(claims(iss="https://edge.example.com.evil.example")),
        "bad_issuer",
        {},
    ),
    ("issuer-trailing-slash", lambda: es256(claims(iss=ISSUER + "/")), "bad_issuer", {}),
    ("issuer-other-case", lambda: es256(claims(iss=ISSUER.upper())), "bad_issuer", {}),
    ("issuer-as-list", lambda: es256(claims(iss=[ISSUER])), "bad_issuer", {}),
    ("issuer-missing", lambda: es256(claims(iss=None)), "bad_issuer", {}),
    ("audience-wrong", lambda: es256(claims(aud="billing-app")), "bad_audience", {}),
    ("audience-substring", lambda: es256(claims(aud="orders")), "bad_audience", {}),
    ("audience-list-wrong", lambda: es256(claims(aud=["a", "b"])), "bad_audience", {}),
    ("audience-missing", lambda: es256(claims(aud=None)), "bad_audience", {}),
    (
        "signature-stripped",
        lambda: es256().rsplit(".", 1)[0] + ".",
        "bad_signature",
        {},
    ),
    ("ecdsa-r-s-zero", lambda: _with_signature(es256(), bytes(64)), "bad_signature", {}),
    ("ecdsa-der-signature", lambda: _der_signature(), "bad_signature", {}),
    (
        "ecdsa-signature-other-key",
        lambda: sign_jws(claims(), "ec-1", "ES256", EC_OTHER),
        "bad_signature",
        {},
    ),
    (
        "payload-changed",
        lambda: _swap_payload(es256(), claims(sub="root")),
        "bad_signature",
        {},
    ),
    ("json-serialization", _json_serialization, "malformed", {}),
    ("padded-segments", _padded, "malformed", {}),
    ("non-canonical-base64url", _non_canonical_signature, "malformed", {}),
    ("two-segments", lambda: es256().rsplit(".", 1)[0], "malformed", {}),
    ("four-segments", lambda: es256() + ".AAAA", "malformed", {}),
    ("whitespace-inside", lambda: es256().replace(".", ". ", 1), "malformed", {}),
    ("header-not-an-object", lambda: signed_raw(b'["ES256"]', b"{}"), "malformed", {}),
    (
        "header-duplicate-member",
        lambda: signed_raw(
            b'{"alg":"ES256","kid":"rsa-1","kid":"ec-1"}', json.dumps(claims()).encode()
        ),
        "malformed",
        {},
    ),
    ("header-without-alg", lambda: signed_raw(b'{"kid":"ec-1"}', b"{}"), "malformed", {}),
    ("kid-not-a-string", lambda: _kid_number(), "malformed", {}),
    (
        "payload-not-json",
        lambda: sign_jws(b"not json", "ec-1", "ES256", EC_PRIVATE),
        "malformed",
        {},
    ),
    (
        "payload-json-array",
        lambda: sign_jws(b"[1,2]", "ec-1", "ES256", EC_PRIVATE),
        "malformed",
        {},
    ),
    (
        "claims-duplicate-member",
        lambda: signed_raw(
            b'{"alg":"ES256","kid":"ec-1"}',
            json.dumps(claims()).encode()[:-1] + b',"sub":"root"}',
        ),
        "malformed",
        {},
    ),
    ("too-large", lambda: es256(claims(pad="x" * 20000)), "too_large", {}),
    ("typ-mismatch", lambda: es256(typ="at+jwt"), "malformed", {"typ": "JWT"}),
    (
        "typ-missing",
        lambda: signed_raw(b'{"alg":"ES256","kid":"ec-1"}', json.dumps(claims()).encode()),
        "malformed",
        {"typ": "JWT"},
    ),
    (
        "no-kid-with-several-keys",
        lambda: sign_jws(claims(), None, "ES256", EC_PRIVATE),
        "unknown_key",
        {},
    ),
]


def _kid_null_hmac() -> str:
    # The classic: kid names /dev/null, HMAC over the empty "file content".
    header = {"alg": "HS256", "kid": "../../../../dev/null"}
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims()).encode())
    tag = hmac.digest(b"", signing_input.encode(), "sha256")
    return signing_input + "." + b64(tag)


def _kid_number() -> str:
    return signed_raw(b'{"alg":"ES256","kid":7}', json.dumps(claims()).encode())


def _der_signature() -> str:
    header, payload, _ = es256().split(".")
    der = EC_PRIVATE.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    return f"{header}.{payload}.{b64(der)}"


def _swap_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{b64(json.dumps(payload).encode())}.{signature}"


@pytest.mark.parametrize(
    ("make", "expected", "overrides"),
    [
        pytest.param(make, expected, overrides, id=name)
        for name, make, expected, overrides in ATTACKS
    ],
)
def test_attack_is_refused_with_its_code(
    make: Any, expected: str, overrides: dict[str, Any]
) -> None:
    assert code_of(build(**overrides), make()) == expected


def test_two_token_lines_joined_are_ambiguous() -> None:
    # A WSGI server joins repeated header lines with ", ".
    assert code_of(build(), f"{es256()}, {es256(claims(sub='root'))}") == "ambiguous"


def test_missing_and_empty_header() -> None:
    assert code_of(build(), "", view(None)) == "missing"
    assert code_of(build(), "", view(None, headers={"x-edge-jwt": ["  "]})) == "missing"


# -- claims ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"exp": NOW - 5}, "ok"),  # within the 5 s leeway
        ({"exp": NOW - 6}, "expired"),
        ({"nbf": NOW + 5}, "ok"),
        ({"iat": NOW + 5}, "ok"),
        ({"aud": ["billing", AUDIENCE]}, "ok"),
        ({"iss": "https://second.example.com"}, "ok"),
        ({"exp": NOW + 10**12}, "ok"),
    ],
    ids=[
        "exp-in-leeway",
        "exp-past-leeway",
        "nbf-in-leeway",
        "iat-in-leeway",
        "aud-list",
        "second-issuer",
        "far-exp",
    ],
)
def test_claim_checks(overrides: dict[str, Any], expected: str) -> None:
    source = build(issuer=[ISSUER, "https://second.example.com"])
    assert code_of(source, es256(claims(**overrides))) == expected


def test_max_age_bounds_iat() -> None:
    source = build(max_age=60)
    assert code_of(source, es256(claims(iat=NOW - 65))) == "ok"
    assert code_of(source, es256(claims(iat=NOW - 66))) == "expired"
    assert code_of(source, es256(claims(iat=None))) == "malformed"


def test_audience_present_but_none_configured_is_refused() -> None:
    # RFC 7519 §4.1.3: a recipient that does not identify with aud must refuse.
    assert code_of(build(audience=None), es256()) == "bad_audience"
    assert code_of(build(audience=None), es256(claims(aud=None))) == "ok"


def test_typ_is_compared_as_a_media_type() -> None:
    source = build(typ="at+jwt")
    assert code_of(source, es256(typ="application/AT+JWT")) == "ok"
    assert code_of(source, es256(typ="JWT")) == "malformed"


# -- request binding -----------------------------------------------------------------------

URL = ORIGIN + "/api/orders"


@pytest.mark.parametrize(
    ("htm", "htu", "seen", "expected"),
    [
        ("GET", URL, {}, "ok"),
        ("GET", "HTTPS://App.Example.com:443/api/%6frders", {}, "ok"),
        ("GET", URL + "?page=2#top", {"query": "other=1"}, "ok"),
        ("POST", URL, {}, "binding_mismatch"),
        ("get", URL, {}, "binding_mismatch"),
        ("GET", ORIGIN + "/api/orders/1", {}, "binding_mismatch"),
        ("GET", "https://evil.example.com/api/orders", {}, "binding_mismatch"),
        ("GET", "http://app.example.com/api/orders", {}, "binding_mismatch"),
        ("GET", ORIGIN + "/api%2Forders", {}, "binding_mismatch"),
        ("GET", "https://user@app.example.com/api/orders", {}, "binding_mismatch"),
        ("GET", 42, {}, "binding_mismatch"),
        (None, URL, {}, "ok"),
        ("GET", None, {}, "ok"),
    ],
    ids=[
        "match",
        "normalized",
        "query-and-fragment-ignored",
        "other-method",
        "method-case",
        "other-path",
        "other-host",
        "other-scheme",
        "encoded-slash",
        "userinfo",
        "htu-not-string",
        "htu-only",
        "htm-only",
    ],
)
def test_htm_htu_checked_when_present(
    htm: Any, htu: Any, seen: dict[str, Any], expected: str
) -> None:
    token = es256(claims(htm=htm, htu=htu))
    assert code_of(build(), token, view(token, **seen)) == expected


def test_bind_request_requires_htm_and_htu() -> None:
    source = build(bind_request=True)
    assert code_of(source, es256()) == "binding_mismatch"
    assert code_of(source, es256(claims(htm="GET"))) == "binding_mismatch"
    assert code_of(source, es256(claims(htm="GET", htu=URL))) == "ok"


def test_htu_scheme_when_tls_ends_before_the_app() -> None:
    token = es256(claims(htm="GET", htu=URL))
    assert code_of(build(), token, view(token, scheme="http")) == "binding_mismatch"
    assert code_of(build(htu_scheme="https"), token, view(token, scheme="http")) == "ok"


# -- jti replay -----------------------------------------------------------------------------


def test_replay_jti_returns_a_ticket_until_exp_plus_leeway() -> None:
    source = build(replay_jti=True)
    assertion = source.verify(view(es256(claims(jti="j-1"))), NOW)
    # exp + leeway - NOW, then leeway (a farm clock behind) and a second past that instant.
    assert assertion.replay == ReplayTicket("ec-1", "j-1", 311.0)
    assert code_of(source, es256()) == "malformed"  # no jti
    assert code_of(source, es256(claims(jti=""))) == "malformed"
    assert code_of(source, es256(claims(jti=["j"]))) == "malformed"


def test_replay_ttl_is_capped_for_absurd_exp() -> None:
    source = build(replay_jti=True)
    for exp in (10**400, 1e300):
        ticket = source.verify(view(es256(claims(jti="j", exp=exp))), NOW).replay
        assert ticket is not None
        assert ticket.ttl == 400 * 86400


@pytest.mark.parametrize("max_age", [None, 30], ids=["exp", "max-age"])
@pytest.mark.parametrize("share", [0.0, 0.01, 0.5, 0.999, 1.0])
def test_replay_jti_ticket_outlives_the_last_instant_the_token_verifies(
    max_age: int | None, share: float
) -> None:
    # Issue #11, item 11: a jti forgotten while its token still verifies
    # (at exactly exp + leeway, which is accepted) could be replayed then.
    source = build(replay_jti=True, max_age=max_age)
    earliest = NOW - 10 - 5  # iat - leeway
    last = NOW + 300 + 5 if max_age is None else NOW - 10 + 30 + 5  # exp or iat + max_age
    now = earliest + share * (last - earliest)  # anywhere the token verifies
    ticket = source.verify(view(es256(claims(jti="j-edge"))), now).replay
    assert ticket is not None
    assert now + ticket.ttl > last  # strictly: a margin beyond the last instant


def test_replay_jti_needs_a_replay_store() -> None:
    with pytest.raises(ConfigurationError, match="replay_jti"):
        build(replay_enabled=False, replay_jti=True)


def test_replay_jti_is_off_by_default_even_with_a_store() -> None:
    assert build().verify(view(es256(claims(jti="j-1"))), NOW).replay is None


# -- verified-token cache ---------------------------------------------------------------------


class CountingKeys:
    """A key resolver that counts lookups (one per signature check)."""

    fetches = False

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lookups = 0
        self.current = True

    def key_for(self, kid: str | None) -> Any:
        self.lookups += 1
        return self.inner.key_for(kid)

    def is_current(self, key: Any) -> bool:
        return self.current

    async def aprepare(self, kid: str | None) -> None:
        return None


def _counting(**overrides: Any) -> tuple[JWSSource, CountingKeys]:
    source = build(**overrides)
    keys = CountingKeys(source.keys)
    return dataclasses.replace(source, keys=keys), keys


def test_cache_skips_the_signature_for_a_token_seen_again() -> None:
    source, keys = _counting()
    token = es256()
    first = source.verify(view(token), NOW)
    first.claims["sub"] = "mallory"  # a caller mutating its copy changes nothing
    first.claims["groups"].append("okta-admins")  # nested values included
    second = source.verify(view(token), NOW + 1)
    second.claims["groups"].append("okta-admins")
    assert keys.lookups == 1
    assert second.claims != claims()
    assert source.verify(view(token), NOW + 2).claims == claims()
    assert second.key_id == "ec-1"


def test_cache_entries_never_outlive_exp_or_max_age() -> None:
    source, _ = _counting(max_age=60)
    token = es256(claims(exp=NOW + 30))
    source.verify(view(token), NOW)
    with pytest.raises(Expired):
        source.verify(view(token), NOW + 36)
    token = es256(claims(iat=NOW, exp=NOW + 3600))
    source.verify(view(token), NOW)
    with pytest.raises(Expired):
        source.verify(view(token), NOW + 66)


def test_cache_is_bounded_and_refreshed_when_keys_change() -> None:
    source, keys = _counting(cache_size=2)
    tokens = [es256(claims(sub=f"user-{i}")) for i in range(3)]
    for token in tokens:
        source.verify(view(token), NOW)
    assert source._cache is not None
    assert len(source._cache) == 2
    source.verify(view(tokens[0]), NOW)  # evicted: checked again
    assert keys.lookups == 4
    keys.current = False  # the key left the JWKS: cached verdicts are not used
    source.verify(view(tokens[0]), NOW)
    assert keys.lookups == 5


@pytest.mark.parametrize(
    "overrides",
    [{"replay_jti": True}, {"bind_request": True}, {"cache_size": 0}],
    ids=["replay-jti", "bind-request", "size-zero"],
)
def test_cache_disabled(overrides: dict[str, Any]) -> None:
    source = build(**overrides)
    assert source._cache is None


def test_bound_tokens_are_not_cached() -> None:
    source, keys = _counting()
    token = es256(claims(htm="GET", htu=URL))
    source.verify(view(token), NOW)
    assert code_of(source, token, view(token, method="POST")) == "binding_mismatch"
    assert keys.lookups == 2


# -- bearer --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer {token}", "ok"),
        ("bearer   {token}", "ok"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        (None, "missing"),
    ],
    ids=["bearer", "lower-case-extra-spaces", "basic", "empty-bearer", "absent"],
)
def test_bearer(authorization: str | None, expected: str) -> None:
    source = build(bearer=True)
    token = es256()
    headers = (
        {} if authorization is None else {"authorization": [authorization.format(token=token)]}
    )
    assert source.trigger_headers == ("authorization",)
    assert code_of(source, token, view(None, headers=headers)) == expected


# -- configuration -----------------------------------------------------------------------------


def test_defaults() -> None:
    source = build()
    assert source.name == "jws"
    assert source.header == "x-edge-jwt"
    assert source.trigger_headers == source.stripped_headers == ("x-edge-jwt",)
    assert source.algorithms == {"ES256", "RS256", "EdDSA"}
    assert source.leeway == 5
    assert not source.replay_jti


def test_custom_header_and_registry() -> None:
    table = Table(config(header="X-Custom-Token", name="edge-jwt"), "sources[0]")
    source = parse_source_config(table, base_dir=Path.cwd(), replay_enabled=True)
    assert isinstance(source, JWSSource)
    assert source.trigger_headers == ("x-custom-token",)


def test_jwks_file(tmp_path: Path) -> None:
    document = jwks_document([("ec-1", "ES256", EC_PRIVATE), ("rsa-1", "RS256", RSA_PRIVATE)])
    (tmp_path / "jwks.json").write_text(json.dumps(document))
    source = build(keys=None, jwks_file="jwks.json", base_dir=tmp_path)
    assert source.verify(view(es256()), NOW).key_id == "ec-1"


def test_neither_issuer_nor_audience_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edgeclaims"):
        build(issuer=None, audience=None)
    assert "neither issuer nor audience" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgeclaims"):
        build()
    assert not caplog.text


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"algorithms": ["none"]}, "sources[0].algorithms[0]"),
        ({"algorithms": ["NONE"]}, "sources[0].algorithms[0]"),
        ({"algorithms": ["HS1"]}, "sources[0].algorithms[0]"),
        ({"algorithms": []}, "sources[0].algorithms"),
        ({"algorithms": ["ES256"]}, "sources[0].keys"),
        ({"jwks_url": "https://edge.example.com/jwks"}, "sources[0]"),
        ({"keys": None}, "sources[0]"),
        ({"keys": []}, "sources[0].keys"),
        ({"timeout": 2}, "sources[0].timeout"),
        ({"prefetch": True}, "sources[0].prefetch"),
        ({"keys": None, "jwks_url": "http://edge.example.com/jwks"}, "sources[0].jwks_url"),
        ({"keys": None, "jwks_url": "file:///etc/jwks.json"}, "sources[0].jwks_url"),
        (
            {"keys": None, "jwks_url": "https://e.example/j", "algorithms": ["HS256"]},
            "sources[0].algorithms",
        ),
        (
            {
                "keys": None,
                "jwks_url": "https://e.example/j",
                "cache_ttl_min": 10,
                "cache_ttl_max": 5,
            },
            "sources[0].cache_ttl_min",
        ),
        ({"bearer": True, "header": "X-Edge-Jwt"}, "sources[0].header"),
        ({"header": "x_edge_jwt"}, "sources[0].header"),
        ({"max_age": 0}, "sources[0].max_age"),
        ({"htu_scheme": "ftp"}, "sources[0].htu_scheme"),
        ({"leeway": -1}, "sources[0].leeway"),
        (
            {"keys": [{"id": "h", "alg": "HS384", "secret": "hex:" + bytes(40).hex()}]},
            "sources[0].keys[0].alg",
        ),
        (
            {"keys": [{"id": "h", "alg": "HS256", "secret": "hex:" + bytes(16).hex()}]},
            "sources[0].keys[0].secret",
        ),
        (
            {"keys": [{"id": "e", "alg": "ES256", "jwk": {**_ec_jwk(EC_PRIVATE), "alg": "ES384"}}]},
            "sources[0].keys[0].jwk",
        ),
        (
            {"keys": [{"id": "e", "alg": "ES384", "public_key": pem(EC_PRIVATE)}]},
            "sources[0].keys[0].public_key",
        ),
        (
            {"keys": [{"id": "e", "alg": "none", "public_key": pem(EC_PRIVATE)}]},
            "sources[0].keys[0].alg",
        ),
        (
            {
                "keys": [
                    {"id": "e", "alg": "ES256", "public_key": pem(EC_PRIVATE)},
                    {"id": "e", "alg": "ES256", "public_key": pem(EC_OTHER)},
                ]
            },
            "sources[0].keys[1].id",
        ),
        ({"mystery": 1}, "sources[0].mystery"),
    ],
    ids=lambda value: None if isinstance(value, dict) else value,
)
def test_configuration_errors(overrides: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(**overrides)
    assert caught.value.path == path


def test_aprepare_with_static_keys_does_nothing() -> None:
    assert asyncio.run(build().aprepare(view(es256()))) is None
