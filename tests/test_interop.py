"""Interop with http-message-signatures, an independent RFC 9421 implementation.

Requests it signs (covering ``@method @authority @path @query`` and the
claims header, with ``created``, ``nonce``, ``keyid`` and ``tag``) verify
through the WSGI and ASGI middleware and over real servers; signatures
edgeclaims makes verify with it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import test_entry_points
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from interop import sign_with_library, verify_with_library
from servers import asgi_echo_app, request, uvicorn_server, waitress_server, wsgi_echo_app
from tables import VIEWER, Case
from test_entry_points import verdict_asgi, verdict_wsgi

from edgeclaims.config import load_config
from edgeclaims.signer import encode_claims, load_signing_key, sign_request

ALGS = ["hmac-sha256", "ecdsa-p256-sha256", "ed25519", "rsa-pss-sha512", "rsa-v1_5-sha256"]
COVERED = ["@method", "@authority", "@path", "@query", "x-edge-claims"]
CREATED = 1_795_731_572


def _keypair(alg: str) -> tuple[bytes, bytes, dict[str, object]]:
    """(signing material for the library, the same for edgeclaims, the origin's key entry)."""
    if alg == "hmac-sha256":
        secret = bytes(range(100, 132))
        return secret, secret, {"secret": "hex:" + secret.hex()}
    private: Any = {
        "ecdsa-p256-sha256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate,
    }.get(alg, lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, pem, {"public_key": public.decode(), "_public_pem": public}


KEYS = {alg: _keypair(alg) for alg in ALGS}


def _config(alg: str, **replay: object) -> Any:
    entry = {k: v for k, v in KEYS[alg][2].items() if not k.startswith("_")}
    return load_config(
        {
            "sources": [{"type": "rfc9421", "keys": [{"id": "lib-key", "alg": alg, **entry}]}],
            "replay": replay or {"store": "memory"},
        }
    )


def _library_signature(
    url: str, claims: str, alg: str, *, created: int, nonce: str
) -> dict[str, str]:
    """Signature-Input and Signature made by http-message-signatures for a GET of ``url``."""
    return sign_with_library(
        "GET",
        url,
        {"X-Edge-Claims": claims},
        key_id="lib-key",
        alg=alg,
        key=KEYS[alg][0],
        covered=COVERED,
        created=created,
        nonce=nonce,
        tag="edgeclaims",
    )


@pytest.mark.parametrize("path", ["/whoami?x=1", "/files/a%2Fb%20c", "/"])
@pytest.mark.parametrize("alg", ALGS)
def test_library_signed_request_passes_wsgi_and_asgi(
    alg: str, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://app.example.com" + path
    claims = encode_claims(VIEWER)
    signature = _library_signature(url, claims, alg, created=CREATED, nonce="lib-nonce")
    headers = [("X-Edge-Claims", claims), *signature.items()]
    case = Case(f"library-{alg}", "GET", url, headers, "ok")
    monkeypatch.setattr(test_entry_points, "CONFIG", _config(alg))
    for verdict in (verdict_wsgi, verdict_asgi):
        code, identity = verdict(case)
        assert code == "ok"
        assert identity.subject == "alice"
    # Tampering with any covered part breaks it.
    tampered = Case(
        "t", "GET", url + ("&" if "?" in url else "?") + "y=2", headers, "bad_signature"
    )
    assert verdict_asgi(tampered)[0] == "bad_signature"


@pytest.mark.parametrize("alg", ALGS)
def test_library_signed_request_over_real_servers(alg: str) -> None:
    created = int(time.time())
    claims = encode_claims(VIEWER)
    for start, app_for in (
        (
            waitress_server,
            lambda c: __import__("edgeclaims.wsgi").wsgi.EdgeClaimsMiddleware(wsgi_echo_app, c),
        ),
        (
            uvicorn_server,
            lambda c: __import__("edgeclaims.asgi").asgi.EdgeClaimsMiddleware(asgi_echo_app, c),
        ),
    ):
        with start(app_for(_config(alg))) as port:
            url = f"http://127.0.0.1:{port}/whoami?q=%20x"
            signature = _library_signature(url, claims, alg, created=created, nonce=f"n-{port}")
            status, body = request(
                port,
                "GET",
                "/whoami?q=%20x",
                [("X-Edge-Claims", claims), *signature.items()],
                host=f"127.0.0.1:{port}",
            )
            assert (status, body["sub"]) == (200, "alice"), body


@pytest.mark.parametrize("path", ["/whoami?x=1", "/files/a%2Fb%20c", "/"])
@pytest.mark.parametrize("alg", ALGS)
def test_edgeclaims_signature_verifies_with_the_library(alg: str, path: str) -> None:
    url = "https://app.example.com" + path
    key = load_signing_key("lib-key", alg, KEYS[alg][1])
    # The library checks created against its own wall clock.
    headers = sign_request("GET", url, VIEWER, key, created=int(time.time()), nonce="ours")
    public = KEYS[alg][0] if alg == "hmac-sha256" else KEYS[alg][2]["_public_pem"]
    covered = verify_with_library("GET", url, headers, key_id="lib-key", alg=alg, key=public)  # type: ignore[arg-type]
    assert covered == COVERED
    with pytest.raises(Exception):
        verify_with_library(
            "GET", url.replace("app.", "evil."), headers, key_id="lib-key", alg=alg, key=public
        )  # type: ignore[arg-type]
