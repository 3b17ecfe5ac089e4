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

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from edgeclaims.algorithms import JOSE_ALGORITHMS as ALGORITHMS
from edgeclaims.algorithms import Algorithm as JOSEAlgorithm
from edgeclaims.algorithms import SignKey
from edgeclaims.encoding import b64url_check, b64url_decode, b64url_encode
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
        return b64url_decode(self.payload_segment)


def looks_compact(text: str) -> bool:
    """Whether ``text`` has the shape of a compact JWS (nothing decoded or checked)."""
    return _COMPACT.fullmatch(text) is not None


def parse_compact(token: str, *, max_bytes: int = DEFAULT_MAX_TOKEN_BYTES) -> CompactJWS:
    """Split a compact JWS strictly; raise ``MalformedHeader`` or ``TooLarge``.

    Refused: anything but three dot-separated segments of the base64url
    alphabet (so padding, whitespace and the JSON serialization), a
    non-canonical segment, an empty header, or a header that is not a JSON
    object with unique members.
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
    try:
        header_raw = b64url_decode(header_segment)
        signature = b64url_decode(signature_segment)
        # Checked now, decoded only once the signature verified: a bad
        # payload segment is malformed whatever the signature says.
        b64url_check(payload_segment)
    except ValueError:
        raise MalformedHeader("a token segment is not canonical base64url") from None
    header = decode_json_object(header_raw, "token header")
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
