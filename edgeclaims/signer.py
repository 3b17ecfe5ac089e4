"""Produce the RFC 9421 profile's headers, as the edge does.

Used by :mod:`edgeclaims.testing`, ``edgeclaims sign`` and the demo's edge.
A production edge (samples/edgeworker) implements the same profile in
JavaScript; both are checked against the verifier in the test suite.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from edgeclaims import structured
from edgeclaims.algorithms import ALGORITHMS, SignKey
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421_base import signature_base

__all__ = ["SigningKey", "encode_claims", "load_signing_key", "sign_request"]

DEFAULT_COMPONENTS = ("@method", "@authority", "@path", "@query", "x-edge-claims")


@dataclass(frozen=True, repr=False)
class SigningKey:
    """The edge's half of a key: id, algorithm and private material."""

    id: str
    alg: str
    material: SignKey

    def __repr__(self) -> str:
        return f"SigningKey(id={self.id!r}, alg={self.alg!r})"


def load_signing_key(key_id: str, alg: str, material: bytes | str) -> SigningKey:
    """A signing key from an HMAC secret (bytes) or a private key PEM (text or bytes)."""
    if alg not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {alg!r}")
    if ALGORITHMS[alg].key_kind == "secret":
        if not isinstance(material, bytes):
            raise TypeError("an HMAC key is bytes")
        return SigningKey(key_id, alg, material)
    pem = material.encode("ascii") if isinstance(material, str) else material
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(
        private, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise TypeError(f"unsupported private key {type(private).__name__}")
    return SigningKey(key_id, alg, private)


def encode_claims(claims: Mapping[str, object]) -> str:
    """The claims header value: compact JSON, UTF-8, base64url without padding."""
    raw = json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign_request(
    method: str,
    url: str,
    claims: Mapping[str, object] | None,
    key: SigningKey,
    *,
    headers: Mapping[str, str] | None = None,
    claims_header: str = "X-Edge-Claims",
    components: Sequence[str] | None = None,
    created: int | None = None,
    expires: int | None = None,
    nonce: str | None = None,
    tag: str | None = "edgeclaims",
    label: str = "edge",
    path_form: str = "exact",
    include_alg: bool = True,
) -> dict[str, str]:
    """Sign a request for ``url`` and return the headers the edge adds.

    ``url`` is the absolute URL as the origin will receive it (scheme, host,
    raw percent-encoded path and query). ``nonce`` defaults to a fresh random
    value and ``created`` to now.
    """
    parts = urlsplit(url)
    added: dict[str, str] = {}
    if claims is not None:
        added[claims_header] = encode_claims(claims)
    all_headers: dict[str, list[str]] = {}
    for name, value in {**(headers or {}), **added}.items():
        all_headers.setdefault(name.lower(), []).append(value)
    all_headers.setdefault("host", [parts.netloc])
    view = RequestView(
        method=method,  # as sent: RFC 9421 §2.2.1 changes no case
        scheme=parts.scheme or "https",
        authority=parts.netloc.lower(),
        raw_path=parts.path or "/",
        raw_query=parts.query if "?" in url else None,
        route_path=parts.path or "/",
        peer=None,
        headers=all_headers,
    )
    covered = tuple(
        c.lower() for c in (components or (*DEFAULT_COMPONENTS[:-1], claims_header.lower()))
    )
    params: dict[str, structured.BareItem] = {
        "created": int(time.time()) if created is None else created
    }
    if expires is not None:
        params["expires"] = expires
    params["nonce"] = nonce if nonce is not None else secrets.token_urlsafe(12)
    params["keyid"] = key.id
    if include_alg:
        params["alg"] = key.alg
    if tag is not None:
        params["tag"] = tag
    inner = structured.InnerList(tuple(structured.Item(c, {}) for c in covered), params)
    base = signature_base(view, covered, inner, path_form=path_form)
    signature = ALGORITHMS[key.alg].sign(key.material, base)
    added["Signature-Input"] = f"{label}={structured.serialize_inner_list(inner)}"
    added["Signature"] = f"{label}=:{base64.b64encode(signature).decode('ascii')}:"
    return added
