"""Prove tests/vectors/rfc9421_appendix_b.json is RFC 9421 Appendix B, independently of edgeclaims.

Only ``cryptography`` and the standard library are used: every published
signature must verify against its key and its ``signature_base`` text, every
private key must belong to its public key, and the message data must agree
with the signature bases (so a typo anywhere fails here, not in an
edgeclaims test that would then be debugging the wrong thing).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc9421_appendix_b.json"
DATA: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DATA["cases"]
ALL_CASES: list[dict[str, Any]] = CASES + DATA["extra_cases"]
KEYS: dict[str, dict[str, Any]] = DATA["keys"]

PROFILE_DERIVED = {
    "@method",
    "@authority",
    "@scheme",
    "@target-uri",
    "@request-target",
    "@path",
    "@query",
}
PROFILE_PARAMS = {"created", "expires", "keyid", "alg", "nonce", "tag"}


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["section"] for case in cases]


def _signature_bytes(case: dict[str, Any]) -> bytes:
    label, _, value = case["signature"].partition("=")
    assert label == case["label"]
    assert value.startswith(":")
    assert value.endswith(":")
    return base64.b64decode(value[1:-1], validate=True)


def _verify(alg: str, key: dict[str, Any], signature: bytes, message: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is valid (RFC 9421 §3.3)."""
    if alg == "hmac-sha256":
        mac = hmac.HMAC(base64.b64decode(key["secret_base64"]), hashes.SHA256())
        mac.update(message)
        mac.verify(signature)
        return
    public = serialization.load_pem_public_key(key["public_pem"].encode())
    if alg == "rsa-pss-sha512":
        assert isinstance(public, rsa.RSAPublicKey)
        # §3.3.1: MGF1 with SHA-512 and a 64-byte salt.
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
        public.verify(signature, message, pss, hashes.SHA512())
    elif alg == "rsa-v1_5-sha256":
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ecdsa-p256-sha256":
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert isinstance(public.curve, ec.SECP256R1)
        # §3.3.4: the signature is r || s, 32 bytes each, not DER.
        if len(signature) != 64:
            raise InvalidSignature("ecdsa-p256-sha256 signatures are 64 bytes")
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    elif alg == "ed25519":
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, message)
    else:  # pragma: no cover - the data file names only the algorithms above
        raise AssertionError(f"unknown algorithm {alg}")


def _der_spki(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_published_signature_verifies_over_signature_base(case: dict[str, Any]) -> None:
    _verify(
        case["alg"], KEYS[case["key_id"]], _signature_bytes(case), case["signature_base"].encode()
    )


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_tampered_signature_base_is_refused(case: dict[str, Any]) -> None:
    tampered = case["signature_base"].replace("1618884473", "1618884474").encode()
    assert tampered != case["signature_base"].encode()
    with pytest.raises(InvalidSignature):
        _verify(case["alg"], KEYS[case["key_id"]], _signature_bytes(case), tampered)


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_signature_base_shape(case: dict[str, Any]) -> None:
    base: str = case["signature_base"]
    lines = base.split("\n")
    # §2.5: one line per component, "@signature-params" last, no trailing newline.
    assert not base.endswith("\n")
    assert "\r" not in base
    assert base.isascii()
    assert len(lines) == len(case["covered_components"]) + 1
    assert lines[-1] == f'"@signature-params": {case["signature_params"]}'
    for component, line in zip(case["covered_components"], lines, strict=False):
        assert line.startswith(f"{component}: ")
    assert case["signature_input"] == f"{case['label']}={case['signature_params']}"
    inner = "(" + " ".join(case["covered_components"]) + ")"
    assert case["signature_params"].startswith(inner + ";")
    assert f';keyid="{case["key_id"]}"' in case["signature_params"]


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_signature_base_values_come_from_the_message(case: dict[str, Any]) -> None:
    """Each covered value in the base is what the B.2/B.3 message carries."""
    message = DATA["messages"][case["message"]]
    headers: dict[str, list[str]] = {}
    for name, value in message["headers"]:
        headers.setdefault(name.lower(), []).append(value.strip())
    derived = {
        '"@method"': message.get("method"),
        '"@authority"': message.get("authority"),
        '"@path"': message.get("path"),
        '"@query"': message.get("query"),
        '"@status"': str(message["status"]) if "status" in message else None,
    }
    for line in case["signature_base"].split("\n")[:-1]:
        component, _, value = line.partition(": ")
        if component in derived:
            assert derived[component] == value, component
        elif component.startswith('"@query-param";name='):
            name = component.split("name=", 1)[1].strip('"')
            pairs = dict(p.split("=", 1) for p in message["query"][1:].split("&"))
            assert pairs[name] == value
        else:
            assert re.fullmatch(r'"[a-z0-9-]+"', component), component
            assert ", ".join(headers[component.strip('"')]) == value, component


@pytest.mark.parametrize("name", sorted(DATA["messages"]))
def test_message_is_self_consistent(name: str) -> None:
    message = DATA["messages"][name]
    headers = {field.lower(): value for field, value in message["headers"]}
    body = message["body"].encode()
    assert headers["content-length"] == str(len(body))
    if "content-digest" in headers:
        digest = base64.b64encode(hashlib.sha512(body).digest()).decode()
        assert headers["content-digest"] == f"sha-512=:{digest}:"
    if "method" in message:
        assert headers["host"] == message["authority"]
        assert message["request_target"] == message["path"] + message["query"]
        assert message["target_uri"] == (
            f"{message['scheme']}://{message['authority']}{message['request_target']}"
        )


@pytest.mark.parametrize("key_id", sorted(k for k in KEYS if "private_pem" in KEYS[k]))
def test_private_key_matches_public_key(key_id: str) -> None:
    key = KEYS[key_id]
    private = serialization.load_pem_private_key(key["private_pem"].encode(), password=None)
    public = serialization.load_pem_public_key(key["public_pem"].encode())
    assert _der_spki(private.public_key()) == _der_spki(public)


def test_rsa_v1_5_key_signs_and_verifies() -> None:
    """B.1.1 is used by no B.2 case; prove the pair works for rsa-v1_5-sha256."""
    key = KEYS["test-key-rsa"]
    private = serialization.load_pem_private_key(key["private_pem"].encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 2048
    signature = private.sign(b"edgeclaims", padding.PKCS1v15(), hashes.SHA256())
    _verify("rsa-v1_5-sha256", key, signature, b"edgeclaims")


def test_shared_secret_is_64_bytes() -> None:
    assert len(base64.b64decode(KEYS["test-shared-secret"]["secret_base64"], validate=True)) == 64


DETERMINISTIC = [case for case in ALL_CASES if case["deterministic"]]


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_deterministic_flag(case: dict[str, Any]) -> None:
    # RSA-PSS and ECDSA are randomized; HMAC and Ed25519 are not.
    assert case["deterministic"] is (case["alg"] in {"hmac-sha256", "ed25519"})


@pytest.mark.parametrize("case", DETERMINISTIC, ids=_ids(DETERMINISTIC))
def test_deterministic_cases_reproduce_byte_for_byte(case: dict[str, Any]) -> None:
    base = case["signature_base"].encode()
    key = KEYS[case["key_id"]]
    if case["alg"] == "hmac-sha256":
        mac = hmac.HMAC(base64.b64decode(key["secret_base64"]), hashes.SHA256())
        mac.update(base)
        produced = mac.finalize()
    else:
        private = serialization.load_pem_private_key(key["private_pem"].encode(), password=None)
        assert isinstance(private, ed25519.Ed25519PrivateKey)
        produced = private.sign(base)
    assert produced == _signature_bytes(case)


def test_case_list_is_exactly_b21_to_b26() -> None:
    assert [case["section"] for case in CASES] == [f"B.2.{n}" for n in range(1, 7)]
    assert [case["label"] for case in CASES] == [f"sig-b2{n}" for n in range(1, 7)]


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_fits_profile_flag(case: dict[str, Any]) -> None:
    """``fits_profile`` follows mechanically from spec/signed-headers.md §1 rule 2."""
    message = DATA["messages"][case["message"]]
    params = re.findall(r";([a-z]+)=", case["signature_params"].split(")", 1)[1])
    fits = "method" in message and set(params) <= PROFILE_PARAMS
    for component in case["covered_components"]:
        name, _, component_params = component.partition(";")
        name = name.strip('"')
        if component_params or (name.startswith("@") and name not in PROFILE_DERIVED):
            fits = False
    assert case["fits_profile"] is fits
    assert case["note"]
