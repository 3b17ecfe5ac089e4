"""Signature algorithms over ``cryptography``: RFC 9421 (§3.3) and JWS (RFC 7518) names.

Each algorithm knows which kind of key it takes, so a key configured for
``hmac-sha256`` can never be used as an ECDSA key and the other way round.
The message never chooses: the verifier looks the algorithm up from the
key's configuration (RFC 9421 §7.3.6).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    VerifyKey = bytes | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    SignKey = bytes | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
else:
    VerifyKey = SignKey = object

__all__ = [
    "ALGORITHMS",
    "JOSE_ALGORITHMS",
    "MIN_HMAC_SECRET_BYTES",
    "MIN_RSA_BITS",
    "RFC9421_AS_JOSE",
    "Algorithm",
]

MIN_HMAC_SECRET_BYTES = 32
MIN_RSA_BITS = 2048

_Verify = Callable[["VerifyKey", bytes, bytes], bool]
_Sign = Callable[..., bytes]


@dataclass(frozen=True)
class Algorithm:
    """One signature algorithm: the key kind it accepts and how it signs and verifies."""

    name: str
    #: "secret", "ec-p256", "ed25519" or "rsa" — what kind of material a key needs.
    key_kind: str
    verify: Callable[[VerifyKey, bytes, bytes], bool]
    sign: Callable[[SignKey, bytes], bytes]
    #: For HMAC: the shortest secret allowed (RFC 7518 §3.2: at least the hash size).
    min_secret_bytes: int = 0


# -- primitives, by JOSE name (RFC 7518 §3, RFC 8037) ---------------------------


def _hmac(digest: str) -> tuple[Callable[[VerifyKey, bytes, bytes], bool], Callable[..., bytes]]:
    # hmac.new, never the one-shot hmac.digest: CPython's hmac.digest drops
    # the GIL around OpenSSL's HMAC() whatever the message's size, and in a
    # threaded server (waitress) every drop hands the GIL to another thread
    # and back. hmac.new keeps it for messages under 2 KiB. Under waitress
    # --threads=4 that hand-off cost a minimal verifier of the Flask sample's
    # requests about 30–45 µs of server CPU a request; in a single-threaded
    # loop the two calls cost the same.
    def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
        if not isinstance(key, bytes):
            return False
        # compare_digest: constant time, and a truncated tag never matches.
        return hmac.compare_digest(hmac.new(key, message, digest).digest(), signature)

    def sign(key: SignKey, message: bytes) -> bytes:
        if not isinstance(key, bytes):
            raise TypeError("an HMAC algorithm needs a secret (bytes)")
        return hmac.new(key, message, digest).digest()

    return verify, sign


def _deferred(build: Callable[[], tuple[_Verify, _Sign]]) -> tuple[_Verify, _Sign]:
    """Verify and sign that build themselves on first use.

    The asymmetric algorithms need ``cryptography``, whose import costs more
    than the rest of edgeclaims: a deployment with HMAC keys only (and an
    ``import edgeclaims.wsgi``) never loads it.
    """
    built: list[tuple[_Verify, _Sign]] = []

    def functions() -> tuple[_Verify, _Sign]:
        if not built:
            built.append(build())
        return built[0]

    def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
        return functions()[0](key, message, signature)

    def sign(key: SignKey, message: bytes) -> bytes:
        return functions()[1](key, message)

    return verify, sign


def _rsa(pss: bool, bits: int) -> tuple[_Verify, _Sign]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    hash_algorithm: hashes.HashAlgorithm = getattr(hashes, f"SHA{bits}")()
    # RFC 7518 §3.5: PSS with MGF1 of the same hash, salt as long as its output.
    scheme: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
        if pss
        else padding.PKCS1v15()
    )

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


def _ecdsa(curve_class: str, bits: int, size: int) -> tuple[_Verify, _Sign]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    scheme = ec.ECDSA(getattr(hashes, f"SHA{bits}")())
    curve_name = getattr(ec, curve_class)().name

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


def _eddsa() -> tuple[_Verify, _Sign]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ed25519

    def verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
        if not isinstance(key, ed25519.Ed25519PublicKey):
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def sign(key: SignKey, message: bytes) -> bytes:
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise TypeError("EdDSA needs an Ed25519 private key")
        return key.sign(message)

    return verify, sign


def _build() -> dict[str, Algorithm]:
    table: list[Algorithm] = []
    for bits, minimum in ((256, 32), (384, 48), (512, 64)):
        verify, sign = _hmac(f"sha{bits}")
        table.append(Algorithm(f"HS{bits}", "secret", verify, sign, minimum))
        verify, sign = _deferred(lambda bits=bits: _rsa(False, bits))  # type: ignore[misc]
        table.append(Algorithm(f"RS{bits}", "rsa", verify, sign))
        verify, sign = _deferred(lambda bits=bits: _rsa(True, bits))  # type: ignore[misc]
        table.append(Algorithm(f"PS{bits}", "rsa", verify, sign))
    for name, curve, bits, size, kind in (
        ("ES256", "SECP256R1", 256, 32, "ec-p256"),
        ("ES384", "SECP384R1", 384, 48, "ec-p384"),
        ("ES512", "SECP521R1", 512, 66, "ec-p521"),
    ):
        build = lambda curve=curve, bits=bits, size=size: _ecdsa(curve, bits, size)  # noqa: E731
        verify, sign = _deferred(build)
        table.append(Algorithm(name, kind, verify, sign))
    table.append(Algorithm("EdDSA", "ed25519", *_deferred(_eddsa)))
    return {algorithm.name: algorithm for algorithm in table}


#: Every JWS algorithm edgeclaims verifies, by JOSE name. ``none`` is not one.
JOSE_ALGORITHMS: Mapping[str, Algorithm] = _build()


#: RFC 9421 names (§3.3) for the same primitives: one implementation of each
#: algorithm serves both wire formats. RSASSA-PSS with SHA-512 here is
#: PS512's (MGF1 SHA-512, 64-byte salt), ECDSA is raw r‖s in both.
RFC9421_AS_JOSE: Mapping[str, str] = {
    "hmac-sha256": "HS256",
    "ecdsa-p256-sha256": "ES256",
    "ed25519": "EdDSA",
    "rsa-pss-sha512": "PS512",
    "rsa-v1_5-sha256": "RS256",
}

#: The RFC 9421 algorithms, by their RFC 9421 names.
ALGORITHMS: dict[str, Algorithm] = {
    name: Algorithm(
        name,
        JOSE_ALGORITHMS[jose].key_kind,
        JOSE_ALGORITHMS[jose].verify,
        JOSE_ALGORITHMS[jose].sign,
    )
    for name, jose in RFC9421_AS_JOSE.items()
}
