"""Base64url for the whole package, strict: one encoder, one decoder.

Claims headers (spec/signed-headers.md §1 rule 9), JWS segments (RFC 7515
§2) and JWK members all use unpadded base64url. A lenient decoder would let
two different texts carry the same bytes — a padded and an unpadded header,
or a last character with stray low bits — so the decoder accepts exactly
one spelling of each byte string and raises ``ValueError`` for any other.
(RFC 8941 byte sequences are padded standard base64; ``structured`` reads them.)
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["b64url_check", "b64url_decode", "b64url_decode_padded", "b64url_encode"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUES = {char: value for value, char in enumerate(_ALPHABET)}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# Bits of the last character that a canonical encoder leaves zero, by length mod 4.
_UNUSED_BITS = {2: 0b1111, 3: 0b11}
_PADDING = {0: b"", 2: b"==", 3: b"="}


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5, RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_check(text: str | bytes) -> int:
    """Raise ``ValueError`` unless ``text`` is unpadded, canonical base64url; its length mod 4.

    Refused: padding, any character outside the alphabet (whitespace
    included), an impossible length, and a last character whose unused low
    bits are not zero.
    """
    raw = text.encode("ascii") if isinstance(text, str) else text  # UnicodeEncodeError: ValueError
    if raw.translate(None, _ALPHABET):
        raise ValueError("not unpadded base64url")
    remainder = len(raw) % 4
    if remainder == 1:
        raise ValueError("impossible base64url length")
    if remainder and _VALUES[raw[-1]] & _UNUSED_BITS[remainder]:
        raise ValueError("non-canonical base64url")
    return remainder


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded, canonical base64url, or raise ``ValueError`` (see :func:`b64url_check`)."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    remainder = b64url_check(raw)
    # The alphabet is checked, so the standard decoder sees only its own
    # alphabet and the padding added here: nothing for its leniency to skip.
    try:
        return binascii.a2b_base64(raw.translate(_TO_STANDARD) + _PADDING[remainder])
    except binascii.Error:
        raise ValueError("not base64url") from None


def b64url_decode_padded(text: str | bytes) -> bytes:
    """Decode base64url written with or without its ``=`` padding; strict otherwise.

    For AWS ALB's ``x-amzn-oidc-data``, whose segments are padded. Padding,
    when present, is exactly what makes the length a multiple of 4 (``==``
    after 2 characters, ``=`` after 3); anything else, ``=`` elsewhere
    included, raises ``ValueError`` as :func:`b64url_decode` does. Each byte
    string still has one unpadded and one padded spelling, no more.
    """
    raw = text.encode("ascii") if isinstance(text, str) else text
    body = raw.rstrip(b"=")
    padding = len(raw) - len(body)
    if padding and (len(raw) % 4 or _PADDING.get(len(body) % 4) != raw[len(body) :]):
        raise ValueError("wrong base64url padding")
    return b64url_decode(body)
