"""Compact JWS (RFC 7515 §7.1), parsed strictly and signed, over ``cryptography``.

Only the compact serialization is understood: exactly three segments of
unpadded, canonical base64url joined by two dots. The JSON serialization,
padding, whitespace and any character outside the base64url alphabet are
refused before anything is decoded. The protected header must be a JSON
object without duplicate members (two parsers disagreeing on which duplicate
wins is a classic smuggling route).

Each algorithm knows the one kind of key it takes, so a key bound to RS256
can never be fed to HMAC (the "key confusion" attack) and ``none`` does not
exist here at all. PyJWT stays in charge of what it does well (JWK parsing,
in :mod:`edgeclaims.keys`); signatures are checked by ``cryptography``
directly, with one base64url decode per segment and no claim handling, which
is both stricter and faster than ``jwt.decode``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from edgeclaims.algorithms import SignKey, VerifyKey
from edgeclaims.errors import MalformedHeader, TooLarge
from edgeclaims.strict_json import decode_json_object

__all__ = [
    "ALGORITHMS",
    "CompactJWS",
    "JOSEAlgorithm",
    "b64url_decode",
    "b64url_encode",
    "decode_json_object",
    "looks_compact",
    "parse_compact",
    "sign_jws",
]

#: A compact JWS larger than this is refused before it is decoded.
DEFAULT_MAX_TOKEN_BYTES = 16384

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# For a segment whose length is 2 or 3 mod 4, the low bits of the last
# character that carry no data (4 or 2 of them) must be zero: otherwise two
# different texts decode to the same bytes (Wycheproof "ModifiedUnusedBits").
_UNUSED_BITS = {2: 0b1111, 3: 0b11}
_VALUES = {char: value for value, char in enumerate(_ALPHABET)}
_PADDING = {0: b"", 2: b"==", 3: b"="}


# -- algorithms ----------------------------------------------------------------


@dataclass(frozen=True)
class JOSEAlgorithm:
    """One JWS algorithm (RFC 7518 §3, RFC 8037): its key kind and primitives."""

    name: str
    #: "secret", "rsa", "ec-p256", "ec-p384", "ec-p521" or "ed25519".
    key_kind: str
    verify: Callable[[VerifyKey, bytes, bytes], bool]
    sign: Callable[[SignKey, bytes], bytes]
    #: For HMAC: the shortest secret allowed (RFC 7518 §3.2: at least the hash size).
    min_secret_bytes: int = 0


def _hmac(digest: str) -> tuple[Callable[[VerifyKey, bytes, bytes], bool], Callable[..., bytes]]:
    def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
        if not isinstance(key, bytes):
            return False
        # compare_digest: constant time, and a truncated tag never matches.
        return hmac.compare_digest(hmac.digest(key, message, digest), signature)

    def sign(key: SignKey, message: bytes) -> bytes:
        if not isinstance(key, bytes):
            raise TypeError("an HMAC algorithm needs a secret (bytes)")
        return hmac.digest(key, message, digest)

    return verify, sign


def _rsa(
    pad: Callable[[hashes.HashAlgorithm], padding.AsymmetricPadding], hash_type: type[Any]
) -> tuple[Callable[[VerifyKey, bytes, bytes], bool], Callable[..., bytes]]:
    hash_algorithm: hashes.HashAlgorithm = hash_type()
    scheme = pad(hash_algorithm)

    def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        # RFC 8017 §8.2.2 step 1: the signature is exactly k octets. Leading
        # zeros added or removed (Wycheproof) are a different signature.
        if len(signature) != (key.key_size + 7) // 8:
            return False
        try:
            key.verify(signature, message, scheme, hash_algorithm)
        except InvalidSignature:
            return False
        return True

    def sign(key: SignKey, message: bytes) -> bytes:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("an RSA algorithm needs an RSA private key")
        return key.sign(message, scheme, hash_algorithm)

    return verify, sign


def _pkcs1(_: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    return padding.PKCS1v15()


def _pss(hash_algorithm: hashes.HashAlgorithm) -> padding.AsymmetricPadding:
    # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
    return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)


def _ecdsa(
    curve: type[ec.EllipticCurve], hash_type: type[Any], size: int
) -> tuple[Callable[[VerifyKey, bytes, bytes], bool], Callable[..., bytes]]:
    scheme = ec.ECDSA(hash_type())
    curve_name = curve().name

    def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve_name:
            return False
        # RFC 7518 §3.4: r‖s, each exactly `size` octets (P1363), never DER.
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        # r = 0 or s = 0 is the "psychic signature" (CVE-2022-21449 class);
        # cryptography refuses it too, but it costs nothing to say so here.
        if r == 0 or s == 0:
            return False
        try:
            key.verify(utils.encode_dss_signature(r, s), message, scheme)
        except InvalidSignature:
            return False
        return True

    def sign(key: SignKey, message: bytes) -> bytes:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != curve_name:
            raise TypeError(f"this algorithm needs a {curve_name} private key")
        r, s = utils.decode_dss_signature(key.sign(message, scheme))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return verify, sign


def _eddsa_verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _eddsa_sign(key: SignKey, message: bytes) -> bytes:
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise TypeError("EdDSA needs an Ed25519 private key")
    return key.sign(message)


def _build() -> dict[str, JOSEAlgorithm]:
    table: list[JOSEAlgorithm] = []
    for bits, hash_type, minimum in (
        (256, hashes.SHA256, 32),
        (384, hashes.SHA384, 48),
        (512, hashes.SHA512, 64),
    ):
        verify, sign = _hmac(f"sha{bits}")
        table.append(JOSEAlgorithm(f"HS{bits}", "secret", verify, sign, minimum))
        verify, sign = _rsa(_pkcs1, hash_type)
        table.append(JOSEAlgorithm(f"RS{bits}", "rsa", verify, sign))
        verify, sign = _rsa(_pss, hash_type)
        table.append(JOSEAlgorithm(f"PS{bits}", "rsa", verify, sign))
    for name, curve, hash_type, size, kind in (
        ("ES256", ec.SECP256R1, hashes.SHA256, 32, "ec-p256"),
        ("ES384", ec.SECP384R1, hashes.SHA384, 48, "ec-p384"),
        ("ES512", ec.SECP521R1, hashes.SHA512, 66, "ec-p521"),
    ):
        verify, sign = _ecdsa(curve, hash_type, size)
        table.append(JOSEAlgorithm(name, kind, verify, sign))
    table.append(JOSEAlgorithm("EdDSA", "ed25519", _eddsa_verify, _eddsa_sign))
    return {algorithm.name: algorithm for algorithm in table}


#: Every JWS algorithm edgeclaims verifies, by JOSE name. ``none`` is not one.
ALGORITHMS: Mapping[str, JOSEAlgorithm] = _build()


# -- base64url and JSON ----------------------------------------------------------


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decode unpadded, canonical base64url, or raise ``ValueError``."""
    raw = segment.encode("ascii")  # UnicodeEncodeError is a ValueError
    if raw.translate(None, _ALPHABET):
        raise ValueError("not unpadded base64url")
    return _decode_checked(raw)


def _check_canonical(segment: bytes) -> int:
    # The alphabet is already checked: refuse impossible lengths and
    # non-canonical final characters. Returns the length mod 4.
    remainder = len(segment) % 4
    if remainder == 1:
        raise ValueError("impossible base64url length")
    if remainder and _VALUES[segment[-1]] & _UNUSED_BITS[remainder]:
        raise ValueError("non-canonical base64url")
    return remainder


def _decode_checked(segment: bytes) -> bytes:
    remainder = _check_canonical(segment)
    # The alphabet is checked, so the standard decoder sees only its own
    # alphabet and the padding we add: nothing for its leniency to skip.
    try:
        return binascii.a2b_base64(segment.translate(_TO_STANDARD) + _PADDING[remainder])
    except binascii.Error:
        raise ValueError("not base64url") from None


# -- parsing -----------------------------------------------------------------------


class CompactJWS(NamedTuple):
    """A compact JWS split and decoded, its signature not yet checked."""

    #: The protected header's members (read-only: it may be shared between calls).
    header: Mapping[str, Any]
    #: The ASCII bytes the signature covers: ``BASE64URL(header) '.' BASE64URL(payload)``.
    signing_input: bytes
    #: The payload segment, still encoded (decoded only once the signature verified).
    payload_segment: bytes
    signature: bytes

    def payload(self) -> bytes:
        """The decoded payload (the segment is already known to be canonical base64url)."""
        return _decode_checked(self.payload_segment)


def looks_compact(text: str) -> bool:
    """Whether ``text`` has the shape of a compact JWS (nothing decoded or checked)."""
    return _COMPACT.fullmatch(text) is not None


#: Distinct header texts remembered per cache (they repeat: same alg, kid, typ).
HEADER_CACHE_SIZE = 64


def parse_compact(
    token: str,
    *,
    max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    header_cache: dict[bytes, Mapping[str, Any]] | None = None,
) -> CompactJWS:
    """Split a compact JWS strictly; raise ``MalformedHeader`` or ``TooLarge``.

    Refused: anything but three dot-separated segments of the base64url
    alphabet (so padding, whitespace and the JSON serialization), a
    non-canonical segment, an empty header, or a header that is not a JSON
    object with unique members. ``header_cache``, when given, maps header
    segments already parsed (only valid ones, at most ``HEADER_CACHE_SIZE``)
    to their members; the returned header is shared and must not be modified.
    """
    if len(token) > max_bytes:
        raise TooLarge(f"the token exceeds {max_bytes} bytes")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedHeader("the token is not ASCII") from None
    # With the base64url alphabet deleted, exactly the two dots must remain:
    # no padding, whitespace, JSON serialization or fourth segment.
    if raw.translate(None, _ALPHABET) != b"..":
        raise MalformedHeader("not a compact JWS (three unpadded base64url segments)")
    header_segment, payload_segment, signature_segment = raw.split(b".")
    if not header_segment:
        raise MalformedHeader("the token has no header")
    header = header_cache.get(header_segment) if header_cache is not None else None
    try:
        if header is None:
            header_raw = _decode_checked(header_segment)
        signature = _decode_checked(signature_segment)
        # Checked now, decoded only once the signature verified: a bad
        # payload segment is malformed whatever the signature says.
        _check_canonical(payload_segment)
    except ValueError:
        raise MalformedHeader("a token segment is not canonical base64url") from None
    if header is None:
        header = decode_json_object(header_raw, "token header")
        # Bounded, and filled only with headers that parsed: junk cannot grow it.
        if header_cache is not None and len(header_cache) < HEADER_CACHE_SIZE:
            header_cache[header_segment] = header
    signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
    return CompactJWS(header, signing_input, payload_segment, signature)


# -- signing -------------------------------------------------------------------------


def sign_jws(
    claims: Mapping[str, Any] | bytes,
    key_id: str | None,
    alg: str,
    private_key_or_secret: SignKey,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``claims`` (a mapping, or raw payload bytes) as a compact JWS.

    The header is ``{"alg": alg, "typ": "JWT", "kid": key_id}`` plus
    ``headers`` (which may change ``typ`` or add members, but never ``alg``
    or ``kid``). Raises ``ValueError`` for an unknown algorithm (``none``
    included) and ``TypeError`` when the key does not fit the algorithm.
    """
    algorithm = ALGORITHMS.get(alg)
    if algorithm is None:
        raise ValueError(f"unsupported JWS algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")
    if isinstance(private_key_or_secret, bytes) and (
        len(private_key_or_secret) < algorithm.min_secret_bytes
    ):
        raise ValueError(f"{alg} needs a secret of at least {algorithm.min_secret_bytes} bytes")
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if key_id is not None:
        header["kid"] = key_id
    for name, value in (headers or {}).items():
        if name in ("alg", "kid"):
            raise ValueError(f"the {name} header is set from the arguments")
        header[name] = value
    payload = (
        claims
        if isinstance(claims, bytes)
        else json.dumps(dict(claims), separators=(",", ":")).encode()
    )
    signing_input = (
        b64url_encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url_encode(payload)
    )
    signature = algorithm.sign(private_key_or_secret, signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature)
