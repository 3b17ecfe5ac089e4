"""RFC 9421 verification cost next to named peers, in one run.

    python benchmarks/bench_rfc9421.py

Peers: PyJWT ``jwt.decode`` of an equivalent HS256 / ES256 token (same
claims, same key; its version is printed: the 2.15 line checks segments in
Python and is about twice as slow as 2.10), ``http-message-signatures``
verifying the same request, and the raw ``hmac`` / ``cryptography``
primitives over the same signature base (info). Budgets (issue #13):

* hmac-sha256 verification ≤ 0.6× PyJWT HS256 ``decode`` and ≤ 0.2×
  ``http-message-signatures``;
* ecdsa-p256 verification ≤ 0.9× PyJWT ES256 ``decode``;
* the whole WSGI middleware call (replay off, an app that does nothing)
  ≤ 0.8× PyJWT HS256 ``decode``.

Nothing is remembered between requests, so every row pays the whole work.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jwt
from common import interleaved_medians, report
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from tables import EC_KEY, EC_PRIVATE, HMAC_KEY, HMAC_SECRET, NOW, ORIGIN, VIEWER, config_mapping

from edgeclaims.config import load_config
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421 import RFC9421Source
from edgeclaims.testing import EdgeSigner, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware

URL = ORIGIN + "/api/orders?page=2"
CLAIMS = {**VIEWER, "iss": "https://edge.example.com", "exp": NOW + 300}


def _source_and_view(key: Any) -> tuple[RFC9421Source, RequestView, dict[str, Any]]:
    config = load_config(config_mapping(replay={"store": "off"}))
    source = config.sources[0]
    assert isinstance(source, RFC9421Source)
    headers = EdgeSigner(key, clock=lambda: NOW).headers("GET", URL, CLAIMS, nonce="bench")
    environ = build_wsgi_environ("GET", URL, headers)
    return source, RequestView.from_wsgi(environ), environ


def main() -> None:
    hmac_source, hmac_view, environ = _source_and_view(HMAC_KEY)
    ec_source, ec_view, _ = _source_and_view(EC_KEY)
    options = {"verify_exp": False}
    hs_token = jwt.encode(CLAIMS, HMAC_SECRET, algorithm="HS256")
    es_token = jwt.encode(CLAIMS, EC_PRIVATE, algorithm="ES256")
    ec_public = EC_PRIVATE.public_key()

    # The raw primitives over the very same signature base (info).
    base = _signature_base(hmac_source, hmac_view)
    tag = hmac.new(HMAC_SECRET, base, hashlib.sha256).digest()
    ec_base = _signature_base(ec_source, ec_view)
    der = EC_PRIVATE.sign(ec_base, ec.ECDSA(hashes.SHA256()))

    # The whole WSGI middleware on a prepared environ, next to the bare app.
    def bare_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    middleware = EdgeClaimsMiddleware(
        bare_app, load_config(config_mapping(replay={"store": "off"})), clock=lambda: NOW
    )
    start = lambda status, headers, exc_info=None: None  # noqa: E731

    # Each group is timed in alternating bursts (common.interleaved_medians),
    # so every ratio compares calls that ran under the same conditions.
    rows = interleaved_medians(
        {
            "edgeclaims rfc9421 hmac-sha256": lambda: hmac_source.verify(hmac_view, NOW),
            "edgeclaims rfc9421 hmac-sha256, view from environ": lambda: hmac_source.verify(
                RequestView.from_wsgi(environ), NOW
            ),
            "WSGI middleware call (verify + app)": lambda: middleware(dict(environ), start),
            "bare WSGI app call": lambda: bare_app(dict(environ), start),
            "PyJWT decode HS256": lambda: jwt.decode(
                hs_token, HMAC_SECRET, algorithms=["HS256"], options=options
            ),
            "raw hmac-sha256 + compare_digest": lambda: hmac.compare_digest(
                hmac.new(HMAC_SECRET, base, hashlib.sha256).digest(), tag
            ),
        }
    )
    rows += interleaved_medians(
        {
            "edgeclaims rfc9421 ecdsa-p256": lambda: ec_source.verify(ec_view, NOW),
            "PyJWT decode ES256": lambda: jwt.decode(
                es_token, ec_public, algorithms=["ES256"], options=options
            ),
            "raw cryptography ECDSA P-256 verify": lambda: ec_public.verify(
                der, ec_base, ec.ECDSA(hashes.SHA256())
            ),
        },
        number=50,
    )
    rows += interleaved_medians(
        {
            "edgeclaims rfc9421 hmac-sha256 (next to http-message-signatures)": (
                lambda: hmac_source.verify(hmac_view, NOW)
            ),
            "http-message-signatures verify (hmac)": _library_verifier(),
        },
        number=50,
    )

    print(f"PyJWT {jwt.__version__}, http-message-signatures {_version('http-message-signatures')}")
    report(
        rows,
        [
            (
                "hmac: edgeclaims / PyJWT HS256 decode",
                "edgeclaims rfc9421 hmac-sha256",
                "PyJWT decode HS256",
                0.6,
            ),
            (
                "hmac: edgeclaims / http-message-signatures",
                "edgeclaims rfc9421 hmac-sha256 (next to http-message-signatures)",
                "http-message-signatures verify (hmac)",
                0.2,
            ),
            (
                "ecdsa: edgeclaims / PyJWT ES256 decode",
                "edgeclaims rfc9421 ecdsa-p256",
                "PyJWT decode ES256",
                0.9,
            ),
            (
                "WSGI middleware call / PyJWT HS256 decode",
                "WSGI middleware call (verify + app)",
                "PyJWT decode HS256",
                0.8,
            ),
            (
                "(info) WSGI middleware call / verify on a prepared view",
                "WSGI middleware call (verify + app)",
                "edgeclaims rfc9421 hmac-sha256",
                float("inf"),
            ),
            (
                "(info) ecdsa: edgeclaims / raw cryptography verify",
                "edgeclaims rfc9421 ecdsa-p256",
                "raw cryptography ECDSA P-256 verify",
                float("inf"),
            ),
        ],
    )


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def _signature_base(source: RFC9421Source, view: RequestView) -> bytes:
    steps: dict[str, str] = {}
    source.verify(view, NOW, steps.__setitem__)
    return steps["base"].encode("ascii")


def _library_verifier() -> Any:
    from interop import prepare_library_verifier

    headers = EdgeSigner(HMAC_KEY, clock=lambda: NOW).headers("GET", URL, CLAIMS, nonce="bench")
    return prepare_library_verifier(
        "GET", URL, headers, key_id=HMAC_KEY.id, alg="hmac-sha256", key=HMAC_SECRET
    )


if __name__ == "__main__":
    main()
