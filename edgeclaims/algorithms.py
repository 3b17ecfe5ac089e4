"""The RFC 9421 signature algorithms (§3.3), over ``cryptography``.

Each algorithm knows which kind of key it takes, so a key configured for
``hmac-sha256`` can never be used as an ECDSA key and the other way round.
The message never chooses: the verifier looks the algorithm up from the
key's configuration (RFC 9421 §7.3.6).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

__all__ = ["ALGORITHMS", "MIN_HMAC_SECRET_BYTES", "MIN_RSA_BITS", "Algorithm"]

MIN_HMAC_SECRET_BYTES = 32
MIN_RSA_BITS = 2048

VerifyKey = bytes | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
SignKey = bytes | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Algorithm:
    """One RFC 9421 algorithm: the key kind it accepts and how it signs and verifies."""

    name: str
    #: "secret", "ec-p256", "ed25519" or "rsa" — what kind of material a key needs.
    key_kind: str
    verify: Callable[[VerifyKey, bytes, bytes], bool]
    sign: Callable[[SignKey, bytes], bytes]


def _hmac_sha256_verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    assert isinstance(key, bytes)
    expected = hmac.digest(key, message, "sha256")
    # compare_digest is constant-time for equal lengths and refuses a
    # truncated tag outright (Wycheproof's tagSize 128 cases).
    return hmac.compare_digest(expected, signature)


def _hmac_sha256_sign(key: SignKey, message: bytes) -> bytes:
    assert isinstance(key, bytes)
    return hmac.digest(key, message, "sha256")


_P256_ORDER_BYTES = 32


def _ecdsa_p256_verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    assert isinstance(key, ec.EllipticCurvePublicKey)
    # RFC 9421 §3.3.4: the signature is r‖s, each 32 bytes big-endian
    # (IEEE P1363), not DER.
    if len(signature) != 2 * _P256_ORDER_BYTES:
        return False
    r = int.from_bytes(signature[:_P256_ORDER_BYTES], "big")
    s = int.from_bytes(signature[_P256_ORDER_BYTES:], "big")
    # r = 0 or s = 0 is never valid (the "psychic signature" class);
    # cryptography refuses it too, but the check costs nothing.
    if r == 0 or s == 0:
        return False
    try:
        key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _ecdsa_p256_sign(key: SignKey, message: bytes) -> bytes:
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(_P256_ORDER_BYTES, "big") + s.to_bytes(_P256_ORDER_BYTES, "big")


def _ed25519_verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    assert isinstance(key, ed25519.Ed25519PublicKey)
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _ed25519_sign(key: SignKey, message: bytes) -> bytes:
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.sign(message)


# RFC 9421 §3.3.1: RSASSA-PSS with SHA-512, MGF1 SHA-512, salt of 64 bytes.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)


def _rsa_pss_verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, message, _PSS, hashes.SHA512())
    except InvalidSignature:
        return False
    return True


def _rsa_pss_sign(key: SignKey, message: bytes) -> bytes:
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(message, _PSS, hashes.SHA512())


def _rsa_v15_verify(key: VerifyKey, message: bytes, signature: bytes) -> bool:
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _rsa_v15_sign(key: SignKey, message: bytes) -> bytes:
    assert isinstance(key, rsa.RSAPrivateKey)
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


ALGORITHMS: dict[str, Algorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        Algorithm("hmac-sha256", "secret", _hmac_sha256_verify, _hmac_sha256_sign),
        Algorithm("ecdsa-p256-sha256", "ec-p256", _ecdsa_p256_verify, _ecdsa_p256_sign),
        Algorithm("ed25519", "ed25519", _ed25519_verify, _ed25519_sign),
        Algorithm("rsa-pss-sha512", "rsa", _rsa_pss_verify, _rsa_pss_sign),
        Algorithm("rsa-v1_5-sha256", "rsa", _rsa_v15_verify, _rsa_v15_sign),
    )
}
