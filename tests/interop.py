"""Interop harness: sign and verify with ``http-message-signatures`` (pyauth, 3.0.0).

That library is an independent RFC 9421 implementation, so a request it signs
must pass edgeclaims, and a request edgeclaims' signer produces must pass it.
This module is a helper for tests and benchmarks, not a test file.

What the library does, found by reading its source and probing it (3.0.0):

* **Algorithms**: all five of the profile — ``hmac-sha256``,
  ``ecdsa-p256-sha256`` (raw ``r || s``, 64 bytes), ``ed25519``,
  ``rsa-pss-sha512`` (MGF1-SHA512, 64-byte salt) and ``rsa-v1_5-sha256`` — plus
  ``ecdsa-p384-sha384``. It enforces no minimum HMAC key length.
* **Parameters**: ``created``, ``expires``, ``nonce``, ``tag`` and ``alg`` are
  all supported natively, no subclassing needed. The signer always writes
  them in the order ``created;keyid;alg;expires;nonce;tag`` (edgeclaims'
  example header uses another order; the order is signed, so a verifier must
  reproduce ``@signature-params`` from the header as received, never rebuild
  it). ``created``/``expires`` are taken as datetimes and truncated to whole
  seconds; these helpers pass aware UTC datetimes so an ``int`` round-trips.
* **Verifier policy is not injectable**: it reads the wall clock
  (``datetime.now``), allows 5 s of skew, rejects ``created`` in the future
  and ``expires`` in the past, and requires ``created`` and ``keyid``. Only
  the age limit is a parameter (library default: one day). Here
  ``max_age_seconds=None`` *disables* the age limit, so fixed old vectors
  (RFC 9421 Appendix B, ``created=1618884473``) still verify; there is no way
  to verify a signature whose ``expires`` has passed or whose ``created`` is
  far in the future. Unknown signature parameters are refused. With several
  signatures in the message, ``expect_tag`` must be given.
* **Components** come from ``message.url`` (never from the ``Host`` header):
  ``@authority`` is the URL host lower-cased with the default port removed;
  ``@path`` is the URL path *exactly as spelled*, percent-encoding kept
  (``%2F``, ``%7e``, ``/a/../b`` all survive), empty → ``/``; ``@query`` is
  ``?`` + the raw query, and ``?`` alone when the URL has no query or an empty
  one (as RFC 9421 §2.2.7 says). The URL must already be encoded: spaces,
  controls and non-ASCII are refused, as is any upper-case component name.
* **requests.PreparedRequest rewrites the URL before the library sees it**
  (``use_requests=True``): host lower-cased; percent-escapes of unreserved
  characters decoded (``%7E`` → ``~``, ``%41`` → ``A``); other escapes'
  hex upper-cased (``%2f`` → ``%2F``); dot segments removed
  (``/a/../b`` → ``/b``); a bare trailing ``?`` dropped; non-ASCII
  percent-encoded; and one malformed escape (``%zz``) makes it re-escape
  *every* ``%`` in the URL (``%7e`` → ``%257E``). A signature made through
  requests therefore covers requests' normalized path, not the raw one the
  edge saw; the default (``use_requests=False``) hands the URL to the
  library verbatim through a minimal message object.
* **Content-Digest**: the signer refuses a message that already carries
  ``Content-Digest`` unless ``use_existing_digest=True`` (then it checks only
  the field's syntax); ``sign_with_library`` sets that flag when the header is
  present, so the digest is signed as the plain header text, as RFC 9421
  Appendix B does. Neither helper reads or checks a body.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    MappingKeyResolver,
)
from http_message_signatures import algorithms as library_algorithms

__all__ = [
    "LIBRARY_ALGORITHMS",
    "prepare_library_verifier",
    "sign_with_library",
    "verify_with_library",
]

#: RFC 9421 algorithm names → the library's algorithm classes (all five are supported).
LIBRARY_ALGORITHMS: Mapping[str, type[HTTPSignatureAlgorithm]] = {
    "hmac-sha256": library_algorithms.HMAC_SHA256,
    "ecdsa-p256-sha256": library_algorithms.ECDSA_P256_SHA256,
    "ed25519": library_algorithms.ED25519,
    "rsa-pss-sha512": library_algorithms.RSA_PSS_SHA512,
    "rsa-v1_5-sha256": library_algorithms.RSA_V1_5_SHA256,
}

_PLAIN_COMPONENT = re.compile(r'"([^"\\]*)"')


@dataclass
class _Message:
    """The smallest request the library accepts: it reads only these three attributes."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def _algorithm(alg: str) -> type[HTTPSignatureAlgorithm]:
    try:
        return LIBRARY_ALGORITHMS[alg]
    except KeyError:
        raise ValueError(f"unsupported algorithm {alg!r}") from None


def _message(
    method: str, url: str, headers: Mapping[str, str], *, use_requests: bool
) -> _Message | requests.PreparedRequest:
    if use_requests:
        return requests.Request(method, url, headers=dict(headers)).prepare()
    return _Message(method, url, dict(headers))


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)


def _component_name(serialized: str) -> str:
    """``'"@path"'`` → ``'@path'``; a parameterized id stays serialized."""
    match = _PLAIN_COMPONENT.fullmatch(serialized)
    return match.group(1) if match else serialized


_PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def _verification_key(alg: str, key: bytes) -> bytes | _PublicKey:
    # Parse PEM once, here, rather than on every verify() call inside the library.
    if alg == "hmac-sha256":
        return key
    public_key = load_pem_public_key(key)
    if not isinstance(public_key, _PublicKey):
        raise ValueError(f"unsupported public key type {type(public_key).__name__}")
    return public_key


def sign_with_library(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    key_id: str,
    alg: str,
    key: bytes,
    covered: Sequence[str],
    created: int,
    nonce: str | None,
    tag: str | None,
    expires: int | None = None,
    label: str = "edge",
    include_alg: bool = True,
    use_requests: bool = False,
) -> dict[str, str]:
    """Return ``{'Signature-Input': ..., 'Signature': ...}`` produced by http-message-signatures.

    ``key`` is the raw HMAC secret or the PEM bytes of a private key.
    ``covered`` lists component ids such as ``("@method", "@authority",
    "@path", "@query", "x-edge-claims")`` (lower-case; the library refuses
    anything else). Existing ``Signature-Input``/``Signature`` headers in
    ``headers`` are replaced, not appended to. See the module docstring for the
    parameter order the library writes and what ``use_requests`` changes.
    """
    message = _message(method, url, headers, use_requests=use_requests)
    signer = HTTPMessageSigner(
        signature_algorithm=_algorithm(alg),
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}),
    )
    signer.sign(
        message,
        key_id=key_id,
        created=_utc(created),
        expires=None if expires is None else _utc(expires),
        nonce=nonce,
        label=label,
        tag=tag,
        include_alg=include_alg,
        covered_component_ids=tuple(covered),
        # The library refuses to sign a message that already has Content-Digest
        # unless told to reuse it (it then checks only the field's syntax).
        use_existing_digest=any(name.lower() == "content-digest" for name in headers),
    )
    return {
        "Signature-Input": str(message.headers["Signature-Input"]),
        "Signature": str(message.headers["Signature"]),
    }


def prepare_library_verifier(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    key_id: str,
    alg: str,
    key: bytes,
    max_age_seconds: int | None = None,
    expect_tag: str | None = None,
    use_requests: bool = False,
) -> Callable[[], list[str]]:
    """Build everything once; return a zero-argument callable that only verifies.

    The verifier, key resolver (PEM already parsed into a key object) and
    message object are created here. Each call still does what the library
    does per ``verify()``: parse both signature headers, build a component
    resolver (URL parse, header grouping), build the signature base, check
    times and run the cryptographic check. Meant for benchmarks.
    """
    message = _message(method, url, headers, use_requests=use_requests)
    verifier = HTTPMessageVerifier(
        signature_algorithm=_algorithm(alg),
        key_resolver=MappingKeyResolver(
            public_keys={key_id: _verification_key(alg, key)}, private_keys={}
        ),
    )
    max_age = None if max_age_seconds is None else datetime.timedelta(seconds=max_age_seconds)

    def verify() -> list[str]:
        results = verifier.verify(message, max_age=max_age, expect_tag=expect_tag)
        if len(results) != 1:
            raise ValueError(f"expected exactly one verified signature, got {len(results)}")
        return [
            _component_name(component)
            for component in results[0].covered_components
            if component != '"@signature-params"'
        ]

    return verify


def verify_with_library(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    key_id: str,
    alg: str,
    key: bytes,
    max_age_seconds: int | None = None,
    expect_tag: str | None = None,
    use_requests: bool = False,
) -> list[str]:
    """Verify with http-message-signatures; return the covered component ids; raise on failure.

    ``key`` is the raw HMAC secret or the PEM bytes of a public key, looked up
    under ``key_id`` only (another ``keyid`` fails as an unknown key).
    Failures raise the library's ``InvalidSignature`` (a subclass of
    ``HTTPMessageSignaturesException``); PEM parse errors raise ``ValueError``.
    ``max_age_seconds=None`` disables the age limit; the library's wall-clock
    checks of ``created`` (not more than 5 s ahead) and ``expires`` still apply.
    Returned ids are bare names (``"@path"``), or the serialized item when the
    component has parameters (``'"@query-param";name="Pet"'``).
    """
    return prepare_library_verifier(
        method,
        url,
        headers,
        key_id=key_id,
        alg=alg,
        key=key,
        max_age_seconds=max_age_seconds,
        expect_tag=expect_tag,
        use_requests=use_requests,
    )()
