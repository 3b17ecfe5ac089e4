"""Key material: HMAC secrets and public keys, loaded once and bound to one algorithm.

A key entry in the configuration names its ``id``, its ``alg`` and exactly
one source of material: for secrets ``secret`` (a literal with an encoding
prefix), ``secret_env`` or ``secret_file``; for public keys ``public_key``
(PEM text), ``public_key_file`` or ``jwk`` (one JWK as a table). Every key is
checked against the kind its algorithm needs (curve, size, type) when the
configuration loads, never per request.

This module owns material only; deciding trust is the sources' job.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeclaims.algorithms import MIN_HMAC_SECRET_BYTES, MIN_RSA_BITS, RFC9421_AS_JOSE, VerifyKey
from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError

__all__ = [
    "Key",
    "KeyKind",
    "decode_secret",
    "load_key",
    "load_shared_secret",
    "public_key_kind",
    "read_named_text",
]

#: The kinds of material an algorithm may need.
KeyKind = str  # "secret" | "ec-p256" | "ec-p384" | "ec-p521" | "ed25519" | "rsa"

_SECRET_SOURCES = ("secret", "secret_env", "secret_file")
#: The encodings a secret literal must name (see ``decode_secret``).
_SECRET_PREFIXES = ("base64:", "base64url:", "hex:", "utf8:")
_USE_A_PREFIX = "use base64:, base64url:, hex: or utf8:"
_PUBLIC_SOURCES = ("public_key", "public_key_file", "jwk")


@dataclass(frozen=True, eq=False, repr=False)
class Key:
    """A verification key bound to one algorithm. Its repr never shows material."""

    id: str
    alg: str
    kind: KeyKind
    material: VerifyKey
    #: A shared secret written in the configuration itself (``secret``, or
    #: an inline ``jwk`` of type ``oct``): ``edgeclaims check`` warns.
    in_config: bool = False

    def __repr__(self) -> str:
        return f"Key(id={self.id!r}, alg={self.alg!r})"


def decode_secret(text: str, where: str) -> bytes:
    """Decode a prefixed secret literal (``base64:``, ``base64url:``, ``hex:``, ``utf8:``).

    The prefix is mandatory: without it, the edge and the origin could read
    the same text as different bytes and disagree silently. No error quotes
    any part of ``text``: what stands before the first ``:`` of a text
    without a known prefix may well be the secret itself.
    """
    text = text.strip()
    prefix, sep, body = text.partition(":")
    if not sep:
        raise ConfigurationError(where, f"a secret needs an encoding prefix: {_USE_A_PREFIX}")
    try:
        if prefix == "base64":
            return base64.b64decode(body, validate=True)
        if prefix == "base64url":
            padded = body + "=" * (-len(body) % 4)
            if not all(c.isalnum() or c in "-_=" for c in body):
                raise ValueError("not base64url")
            return base64.urlsafe_b64decode(padded)
        if prefix == "hex":
            return bytes.fromhex(body)
        if prefix == "utf8":
            return body.encode("utf-8")
    except (ValueError, binascii.Error):
        raise ConfigurationError(where, f"the secret is not valid {prefix}") from None
    raise ConfigurationError(where, f"unknown secret encoding prefix: {_USE_A_PREFIX}")


def load_key(table: Table, *, kinds: Mapping[str, KeyKind], base_dir: Path) -> Key:
    """Read one ``keys[i]`` entry; ``kinds`` maps each allowed algorithm to its key kind."""
    key_id = table.str("id")
    if not key_id:
        raise table.error("id", "must not be empty")
    alg = table.str("alg")
    if alg not in kinds:
        allowed = ", ".join(sorted(kinds))
        raise table.error("alg", f"unsupported algorithm {alg!r}; use one of {allowed}")
    kind = kinds[alg]
    given = [name for name in (*_SECRET_SOURCES, *_PUBLIC_SOURCES) if name in table]
    if len(given) != 1:
        wanted = _SECRET_SOURCES if kind == "secret" else _PUBLIC_SOURCES
        raise ConfigurationError(
            table.path, f"give exactly one of {', '.join(wanted)} for a {alg} key"
        )
    source = given[0]
    if kind == "secret":
        if source not in _SECRET_SOURCES and source != "jwk":
            raise table.error(source, f"a {alg} key takes a secret, not a public key")
        secret = _load_secret(table, source, base_dir)
        if len(secret) < MIN_HMAC_SECRET_BYTES:
            raise table.error(
                source, f"HMAC secrets must be at least {MIN_HMAC_SECRET_BYTES} bytes"
            )
        material: VerifyKey = secret
    else:
        if source in _SECRET_SOURCES:
            raise table.error(source, f"a {alg} key takes a public key, not a secret")
        material = _load_public(table, source, base_dir, alg=alg)
        problem = public_key_kind_problem(material, kind)
        if problem:
            raise table.error(source, problem)
    table.refuse_unknown()
    in_config = kind == "secret" and source in ("secret", "jwk")
    return Key(id=key_id, alg=alg, kind=kind, material=material, in_config=in_config)


def load_shared_secret(table: Table, *, base_dir: Path) -> tuple[bytes, bool]:
    """A secret given by exactly one of ``secret``, ``secret_env``, ``secret_file``.

    Returns the bytes and whether they were written in the configuration
    itself (``edgeclaims check`` warns). No length minimum: for secrets whose
    length another party sets (Akamai G2O); callers warn instead.
    """
    given = [name for name in _SECRET_SOURCES if name in table]
    if len(given) != 1:
        raise ConfigurationError(table.path, f"give exactly one of {', '.join(_SECRET_SOURCES)}")
    return _load_secret(table, given[0], base_dir), given[0] == "secret"


def _load_secret(table: Table, source: str, base_dir: Path) -> bytes:
    where = table.child_path(source)
    if source == "secret":
        return decode_secret(table.str("secret"), where)
    if source in ("secret_env", "secret_file") and table.str(source).strip().startswith(
        _SECRET_PREFIXES
    ):
        # The errors below quote the variable name or the path: a secret
        # literal pasted here by mistake must not be quoted with them.
        raise ConfigurationError(
            where, f"holds a secret literal; {source} names where the secret is kept"
        )
    if source in ("secret_env", "secret_file"):
        return decode_secret(read_named_text(table, source, base_dir), where)
    # A JWK of kty "oct" may carry an HMAC secret.
    jwk = _jwk_mapping(table)
    if jwk.get("kty") != "oct":
        raise ConfigurationError(where, "an HMAC key given as a JWK must have kty 'oct'")
    try:
        key = key_from_jwk(jwk, where)
    except ConfigurationError:
        raise ConfigurationError(where, "not a valid oct JWK") from None
    assert isinstance(key, bytes)  # kty oct
    return key


def _load_public(table: Table, source: str, base_dir: Path, *, alg: str) -> VerifyKey:
    where = table.child_path(source)
    if source == "jwk":
        return key_from_jwk(_jwk_mapping(table), where, alg=RFC9421_AS_JOSE.get(alg, alg))
    pem = table.str("public_key") if source == "public_key" else _read_text(table, source, base_dir)
    return public_key_from_pem(pem.encode("ascii", "replace"), where)


def public_key_from_pem(pem: bytes, where: str) -> VerifyKey:
    """Load a PEM public key; a private key is refused (only the edge holds it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if b"PRIVATE KEY" in pem:
        raise ConfigurationError(
            where, "this is a private key; configure only the public key on the origin"
        )
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise ConfigurationError(where, "not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise ConfigurationError(where, f"unsupported key type {type(key).__name__}")
    return key


def key_from_jwk(jwk: Mapping[str, object], where: str, *, alg: str | None = None) -> VerifyKey:
    """Load one public (or ``oct``) JWK, refusing private members and mismatched use."""
    if "d" in jwk or "p" in jwk:
        raise ConfigurationError(where, "the JWK holds private key members; give the public key")
    if jwk.get("use", "sig") != "sig":
        raise ConfigurationError(where, "the JWK's 'use' is not 'sig'")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ConfigurationError(where, "the JWK's key_ops do not include 'verify'")
    if alg is not None and "alg" in jwk and jwk["alg"] != alg:
        raise ConfigurationError(where, f"the JWK is for {jwk['alg']!r}, not {alg!r}")
    # PyJWT parses JWKs well; imported here, so that a configuration without
    # JWKs (and an import of edgeclaims) never loads it, nor cryptography.
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm
    from jwt.exceptions import InvalidKeyError

    loaders: dict[str, Any] = {
        "EC": ECAlgorithm,
        "RSA": RSAAlgorithm,
        "OKP": OKPAlgorithm,
        "oct": HMACAlgorithm,
    }
    loader = loaders.get(str(jwk.get("kty")))
    if loader is None:
        raise ConfigurationError(where, "unsupported JWK kty")
    try:
        key = loader.from_jwk(json.dumps(dict(jwk)))
    except (InvalidKeyError, ValueError, KeyError, TypeError, binascii.Error):
        raise ConfigurationError(where, "not a valid JWK") from None
    if not isinstance(
        key, bytes | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
    ):
        raise ConfigurationError(where, f"unsupported key type {type(key).__name__}")
    return key


def public_key_kind(key: VerifyKey) -> KeyKind:
    """The kind of a loaded key (``ec-p256``, ``rsa``, …)."""
    if isinstance(key, bytes):
        return "secret"
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    curves = {"secp256r1": "ec-p256", "secp384r1": "ec-p384", "secp521r1": "ec-p521"}
    return curves.get(key.curve.name, f"ec-{key.curve.name}")


def public_key_kind_problem(key: VerifyKey, kind: KeyKind) -> str | None:
    """Why ``key`` cannot serve an algorithm needing ``kind`` (None when it can)."""
    actual = public_key_kind(key)
    if actual != kind:
        return f"the key is {actual}, the algorithm needs {kind}"
    if actual == "rsa":
        from cryptography.hazmat.primitives.asymmetric import rsa

        assert isinstance(key, rsa.RSAPublicKey)
        if key.key_size < MIN_RSA_BITS:
            return f"RSA keys must be at least {MIN_RSA_BITS} bits, this one has {key.key_size}"
    return None


def _jwk_mapping(table: Table) -> Mapping[str, object]:
    value = table.raw("jwk")
    if not isinstance(value, Mapping):
        raise table.error("jwk", "expected a table holding one JWK")
    return value


def read_named_text(table: Table, key: str, base_dir: Path) -> str:
    """The text kept where ``key`` points: an environment variable (``…_env``) or a file.

    Errors quote the variable's name or the file's path, never the text.
    """
    if key.endswith("_env"):
        name = table.str(key)
        value = os.environ.get(name)
        if value is None:
            raise table.error(key, f"environment variable {name} is not set")
        return value
    return _read_text(table, key, base_dir)


def _read_text(table: Table, key: str, base_dir: Path) -> str:
    path = Path(table.str(key))
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        # The path is configuration, not a secret; the content never appears.
        raise table.error(key, f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise table.error(key, f"{path} is not UTF-8 text") from None
