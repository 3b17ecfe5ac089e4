"""The ``aws-alb`` source: AWS Application Load Balancer's OIDC header (spec/providers.md).

    x-amzn-oidc-data: <ES256 JWT, each segment base64url WITH = padding>

An ALB listener rule with an ``authenticate-oidc`` (or ``authenticate-cognito``)
action signs the user's claims and forwards them in ``x-amzn-oidc-data``.
The token is not quite a JWT: its three segments keep their ``=`` padding,
and the signature covers the padded text. It is verified here over the raw
``header.payload`` bytes exactly as received, each segment decoded by
:func:`~edgeclaims.encoding.b64url_decode_padded` (padded or not, strict
otherwise), with no JWT library's padding behaviour involved.

The JOSE header carries what a JWT's claims would: ``alg`` (ES256, the only
one accepted, from this module, never from the token), ``kid`` (a UUID:
anything else is ``malformed`` before it becomes part of a URL), ``signer``
(the load balancer's ARN: must equal ``signer_arn``, else ``bad_issuer``),
``iss`` (the IdP: checked when ``issuer`` is set), ``client`` (the OIDC
client id: checked when ``client_id`` is set, else ``bad_audience``) and
``exp``. ``exp`` is required in the header or the payload, and each one
present must not be past (``leeway``, default 30 s). The payload is the
IdP's user info: ``sub`` is the subject.

The key is one PEM at ``key_base_url + "/" + kid`` (default
``https://public-keys.auth.elb.{region}.amazonaws.com``, GovCloud its S3
form), ``{region}`` taken from ``signer_arn``, never from the token;
fetched and cached by :class:`~edgeclaims.pem_key_client.PEMKeyClient`.

Configuration keys (``type = "aws-alb"``): ``signer_arn`` (required),
``key_base_url``, ``issuer``, ``client_id``, ``leeway`` (30), ``name``
(``"aws-alb"``), ``subject_claim``, ``required_claims``, ``cache_size``
(verified tokens, 16384), ``timeout`` (3 s), ``min_refetch_interval`` (60 s).

ALB's ``x-amzn-oidc-accesstoken`` and ``x-amzn-oidc-identity`` are not
signed: they are removed before the app runs and never read.

**Security**: whoever can reach the app without passing the ALB can send
any header; the signature (and ``signer_arn``) is what makes the header the
ALB's, so an app that also listens elsewhere is still safe, but keep
``signer_arn`` pinned to this load balancer.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgeclaims.algorithms import JOSE_ALGORITHMS, SignKey, VerifyKey
from edgeclaims.caches import BoundedCache
from edgeclaims.config_table import Table
from edgeclaims.encoding import b64url_decode_padded
from edgeclaims.errors import (
    AlgorithmNotAllowed,
    AmbiguousHeader,
    BadAudience,
    BadIssuer,
    BadSignature,
    Expired,
    MalformedHeader,
    MissingIdentity,
    NotYetValid,
    TooLarge,
    UnsupportedComponent,
    VerificationError,
)
from edgeclaims.jose import CompactJWS
from edgeclaims.pem_key_client import PEMKeyClient
from edgeclaims.request import RequestView
from edgeclaims.sources import Assertion, Source, Trace, read_subject_settings, subject_of
from edgeclaims.sources.provider_jwt import shown
from edgeclaims.strict_json import decode_json_object

__all__ = [
    "HEADER",
    "KEY_BASE_URL",
    "SIGNER_ARN",
    "ALBSource",
    "from_table",
    "mint_alb_token",
    "parse_alb_token",
    "signature_verifies",
]

HEADER = "x-amzn-oidc-data"
UNSIGNED_HEADERS = ("x-amzn-oidc-accesstoken", "x-amzn-oidc-identity")
#: The one algorithm ALB signs with.
ALGORITHM = "ES256"
KEY_BASE_URL = "https://public-keys.auth.elb.{region}.amazonaws.com"
#: AWS GovCloud (US) serves the keys from S3 (ALB user guide, "User authentication").
GOVCLOUD_KEY_BASE_URL = "https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}"
_DEFAULT_KEY_BASE_URLS = {"aws": KEY_BASE_URL, "aws-us-gov": GOVCLOUD_KEY_BASE_URL}
#: An Application Load Balancer's ARN: partition, region, account, name, id.
SIGNER_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):elasticloadbalancing:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]):"
    r"[0-9]{12}:loadbalancer/app/[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}"
)
#: ALB's key ids: a UUID and nothing else (it becomes the last segment of a URL).
_KID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: The base64url alphabet with ``=``: deleting it from a token must leave exactly "..".
_PADDED_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
#: ALB's tokens are a few KiB at most (the IdP's user info).
MAX_TOKEN_BYTES = 16384
DEFAULT_CACHE_SIZE = 16384
_FAR_FUTURE = 10**15

#: What ``edgeclaims verify`` adds under a refusal.
HINTS = (
    (
        "bad_issuer",
        "signer_arn must be the load balancer's ARN (EC2 → Load Balancers → the load balancer → "
        "ARN), not a listener's or a target group's; issuer, when set, must be the IdP's issuer "
        "exactly as in the listener rule's authenticate action",
    ),
    (
        "bad_audience",
        "client_id must be the client id of the listener rule's authenticate action "
        "(the OIDC client, or the Cognito app client)",
    ),
    ("algorithm_not_allowed", "ALB signs with ES256 only: this token was not minted by an ALB"),
    (
        "unknown_key",
        "keys come from key_base_url + '/' + kid, the region taken from signer_arn: check "
        "the region in signer_arn (and key_base_url in GovCloud or China)",
    ),
    (
        "key_source_unavailable",
        "the key endpoint could not be reached: allow outbound https from the app to "
        "public-keys.auth.elb.<region>.amazonaws.com (security group, NAT, proxy)",
    ),
    (
        "malformed",
        "x-amzn-oidc-data must arrive as the ALB sent it: three base64url segments, "
        "padding kept, a UUID kid",
    ),
)


def parse_alb_token(token: str, *, max_bytes: int = MAX_TOKEN_BYTES) -> CompactJWS:
    """Split an ALB token strictly; raise ``MalformedHeader`` or ``TooLarge``.

    Three segments of base64url, each padded or not (:func:`b64url_decode_padded`);
    ``signing_input`` is the first two exactly as received, padding included,
    and ``payload_segment`` the payload without its padding.
    """
    if len(token) > max_bytes:
        raise TooLarge(f"the token exceeds {max_bytes} bytes")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedHeader("the token is not ASCII") from None
    if raw.translate(None, _PADDED_ALPHABET) != b"..":
        raise MalformedHeader("not an ALB token (three base64url segments)")
    header_segment, payload_segment, signature_segment = raw.split(b".")
    try:
        header_raw = b64url_decode_padded(header_segment)
        b64url_decode_padded(payload_segment)  # decoded for use once the signature verified
        signature = b64url_decode_padded(signature_segment)
    except ValueError:
        raise MalformedHeader("a token segment is not base64url") from None
    if not header_raw:
        raise MalformedHeader("the token has no header")
    header = decode_json_object(header_raw, "token header")
    signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
    return CompactJWS(header, signing_input, payload_segment.rstrip(b"="), signature)


def signature_verifies(jws: CompactJWS, public_key: VerifyKey) -> bool:
    """Whether the ES256 signature holds over ``header.payload`` as received (padding kept)."""
    return JOSE_ALGORITHMS[ALGORITHM].verify(public_key, jws.signing_input, jws.signature)


@dataclass(frozen=True, eq=False)
class ALBSource(Source):
    """Verifies ``x-amzn-oidc-data`` from one Application Load Balancer."""

    name: str
    signer_arn: str
    keys: PEMKeyClient
    issuer: str | None = None
    client_id: str | None = None
    leeway: int = 30
    subject_claim: str = "sub"
    required_claims: tuple[str, ...] = ()
    cache_size: int = DEFAULT_CACHE_SIZE
    type: str = "aws-alb"
    hints = HINTS  # not a field
    #: Tokens whose signature and claims verified: token → (kid, valid until).
    _cache: BoundedCache[str, str] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.cache_size > 0:
            object.__setattr__(self, "_cache", BoundedCache(self.cache_size))

    @property
    def trigger_headers(self) -> tuple[str, ...]:
        return (HEADER,)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (HEADER, *UNSIGNED_HEADERS)

    # -- verification ----------------------------------------------------------------------

    def verify(self, view: RequestView, now: float, trace: Trace | None = None) -> Assertion:
        token = self._read_token(view)
        cache = self._cache
        if cache is not None:
            kid = cache.get(token, now)
            if kid is not None:
                if trace:
                    trace("cache", "token verified before and still valid: signature not rechecked")
                claims = decode_json_object(_payload_of(token), "token payload")
                return Assertion(claims, kid, None, self._subject(claims))
        jws, kid = self.verify_signature(token, trace)
        # Only now, with the signature verified, is anything else read.
        claims = decode_json_object(jws.payload(), "token payload")
        valid_until = self._check_claims(jws.header, claims, now)
        subject = self._subject(claims)
        if trace:
            trace("claims", f"JSON object with {len(claims)} claims; exp, iss, client pass")
        if cache is not None:
            cache.put(token, kid, valid_until)
        return Assertion(claims, kid, None, subject)

    def verify_signature(self, token: str, trace: Trace | None = None) -> tuple[CompactJWS, str]:
        """Parse an ALB token, check its header and its signature; the token and its kid."""
        jws = parse_alb_token(token)
        kid = self._checked_kid(jws.header)
        key = self.keys.key_for(kid)
        if trace:
            trace("key", f"kid {kid} → {ALGORITHM} key from {self.keys.display_url}")
        if not signature_verifies(jws, key.material):
            raise BadSignature("the token signature does not verify")
        if trace:
            trace("signature", "verifies over the segments as received")
        return jws, kid

    async def aprepare(self, view: RequestView) -> None:
        """Fetch the key this request needs, in a worker thread (never raises).

        For the ASGI path: ``verify`` (sync, on the event loop) then finds
        the key in memory and never does network I/O.
        """
        try:
            token = self._read_token(view)
            if self._cache is not None and self._cache.get(token, float("-inf")) is not None:
                return
            kid = self._checked_kid(parse_alb_token(token).header)
        except VerificationError:
            return  # verify will refuse it, without any key
        await self.keys.aprepare(kid)

    def _checked_kid(self, header: Mapping[str, Any]) -> str:
        """Everything the header must say before a key is looked up; the kid."""
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise MalformedHeader("the token header has no alg")
        # From configuration only: "none", HS256 or anything else never reaches a key.
        if alg != ALGORITHM:
            raise AlgorithmNotAllowed("the token's alg is not ES256")
        if "crit" in header:
            raise UnsupportedComponent("the token marks header parameters critical (crit)")
        kid = header.get("kid")
        # Checked before it becomes part of the key URL: no "/", "..", "?" or "%".
        if not isinstance(kid, str) or not _KID.fullmatch(kid):
            raise MalformedHeader("the token's kid is not a UUID")
        # Before any fetch: a token from another load balancer costs nothing.
        if header.get("signer") != self.signer_arn:
            raise BadIssuer("the token's signer is not the configured signer_arn")
        return kid

    def _read_token(self, view: RequestView) -> str:
        token = view.header(HEADER)
        if token is None:
            raise MissingIdentity(f"no {HEADER} header")
        if "," in token and all(part.strip().count(".") == 2 for part in token.split(",")):
            # Two field lines that the server joined with ", " (waitress does).
            raise AmbiguousHeader("the token header arrived more than once")
        return token

    def _check_claims(
        self, header: Mapping[str, Any], claims: Mapping[str, Any], now: float
    ) -> float:
        """Time, issuer and client checks; returns until when the token stays valid."""
        leeway = self.leeway
        expiries = [value for value in (header.get("exp"), claims.get("exp")) if value is not None]
        if not expiries:
            raise MalformedHeader("the token has no exp")
        for value in (*expiries, claims.get("nbf"), claims.get("iat")):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise MalformedHeader("the token's exp, nbf or iat is not a number")
        exp = min(expiries)
        if now > exp + leeway:
            raise Expired("the token is past its exp")
        nbf = claims.get("nbf")
        if nbf is not None and nbf > now + leeway:
            raise NotYetValid("the token is before its nbf")
        iat = claims.get("iat")
        if iat is not None and iat > now + leeway:
            raise NotYetValid("the token was issued in the future")
        if self.issuer is not None:
            # The header's iss always; the payload's when it has one.
            for iss in (header.get("iss"), claims.get("iss", self.issuer)):
                if iss != self.issuer:
                    raise BadIssuer(
                        f"expected issuer {self.issuer!a}, the token's iss is {shown(iss)}"
                    )
        if self.client_id is not None:
            client = header.get("client")
            if client != self.client_id:
                raise BadAudience(
                    f"expected client_id {self.client_id!a}, the token's client is {shown(client)}"
                )
        # min() before float(): an exp of 10**400 is an int float() refuses.
        return float(min(exp + leeway, _FAR_FUTURE))

    def _subject(self, claims: Mapping[str, Any]) -> str:
        return subject_of(claims, self.subject_claim, self.required_claims)


def _payload_of(token: str) -> bytes:
    """The decoded payload of a token that verified before (so well-formed)."""
    return b64url_decode_padded(token.split(".", 2)[1])


# -- the signing side (tests; edgeclaims.testing_providers) ----------------------------------


def mint_alb_token(
    header: Mapping[str, Any], claims: Mapping[str, Any], private_key: SignKey
) -> str:
    """An ``x-amzn-oidc-data`` value as ALB writes it: ES256, every segment padded.

    ``header`` holds ALB's members (``typ``, ``kid``, ``alg``, ``iss``,
    ``client``, ``signer``, ``exp``); ``alg`` must be ES256.
    """
    if header.get("alg") != ALGORITHM:
        raise ValueError("ALB tokens are ES256")

    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode("ascii")

    signing_input = (
        segment(json.dumps(dict(header), separators=(",", ":")).encode())
        + "."
        + segment(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    signature = JOSE_ALGORITHMS[ALGORITHM].sign(private_key, signing_input.encode("ascii"))
    return signing_input + "." + segment(signature)


# -- configuration ---------------------------------------------------------------------------


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> ALBSource:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    signer_arn = table.str("signer_arn")
    match = SIGNER_ARN.fullmatch(signer_arn)
    if match is None:
        raise table.error(
            "signer_arn",
            "must be the load balancer's ARN: arn:aws:elasticloadbalancing:<region>:"
            "<account>:loadbalancer/app/<name>/<id> (EC2 → Load Balancers → ARN)",
        )
    region = match.group("region")
    default_url = _DEFAULT_KEY_BASE_URLS.get(match.group("partition"))
    if "key_base_url" in table:
        template = table.str("key_base_url")
    elif default_url is not None:
        template = default_url
    else:
        raise table.error("key_base_url", "is required outside the aws and aws-us-gov partitions")
    key_base_url = template.replace("{region}", region)
    parts = urlsplit(key_base_url)
    if parts.query or parts.fragment or "{" in key_base_url or "}" in key_base_url:
        raise table.error("key_base_url", "must be a URL without query or fragment ({region} only)")
    where = table.child_path("key_base_url")
    keys = PEMKeyClient(
        key_base_url,
        timeout=table.number("timeout", 3.0, minimum=0.1),
        min_refetch_interval=table.number("min_refetch_interval", 60.0, minimum=0.0),
        where=where,
    )
    issuer = table.str("issuer", "") or None
    client_id = table.str("client_id", "") or None
    subject_claim, required_claims = read_subject_settings(table)
    return ALBSource(
        name=table.str("name", "aws-alb"),
        signer_arn=signer_arn,
        keys=keys,
        issuer=issuer,
        client_id=client_id,
        leeway=table.int("leeway", 30, minimum=0),
        subject_claim=subject_claim,
        required_claims=required_claims,
        cache_size=table.int("cache_size", DEFAULT_CACHE_SIZE, minimum=0),
    )
