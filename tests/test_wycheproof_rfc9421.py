"""Project Wycheproof vectors through the rfc9421 source's algorithms and key loader.

Keys are loaded the way a configuration loads them (``keys.load_key`` from a
key table, PEM and JWK forms), and each signature goes through the same
``ALGORITHMS[alg].verify`` the source calls. The messages are arbitrary
bytes, so they stand in for the signature base.

Deliberate choices:
* "acceptable" results (RSA PKCS#1 v1.5 with unusual but parseable
  encodings) are expected to be *refused*: the profile has no reason to
  accept anything but the canonical encoding.
* HMAC keys shorter than 32 bytes are refused at configuration time
  (spec §1 rule 5), so those groups assert the refusal instead.
* Truncated HMAC tags (tagSize < 256) must be refused even when Wycheproof
  calls the truncated MAC "valid".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeclaims.algorithms import ALGORITHMS
from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError
from edgeclaims.keys import load_key

VECTORS = Path(__file__).resolve().parent / "vectors" / "wycheproof"
KINDS = {name: algorithm.key_kind for name, algorithm in ALGORITHMS.items()}

FILES = {
    "ecdsa-p256-sha256": "ecdsa_secp256r1_sha256_p1363_test.json",
    "ed25519": "ed25519_test.json",
    "rsa-v1_5-sha256": "rsa_signature_2048_sha256_test.json",
}


def _load(name: str) -> dict[str, Any]:
    path = VECTORS / name
    if not path.exists():
        pytest.fail(f"Wycheproof vectors not found at {path} (tests/vectors/wycheproof)")
    return json.loads(path.read_text())


def _key(alg: str, entry: dict[str, Any], form: str) -> Any:
    table: dict[str, object] = {"id": "w", "alg": alg}
    if form == "jwk":
        jwk = dict(entry.get("publicKeyJwk") or entry["keyJwk"])
        jwk.pop("alg", None)  # Wycheproof's JOSE names (e.g. RS256) match; keep the test generic
        table["jwk"] = jwk
    else:
        table["public_key"] = entry["publicKeyPem"]
    return load_key(Table(table, "keys[0]"), kinds=KINDS, base_dir=Path.cwd())


def _signature_cases() -> list[Any]:
    params = []
    for alg, filename in FILES.items():
        data = _load(filename)
        for group_index, group in enumerate(data["testGroups"]):
            for form in ("pem", "jwk"):
                if form == "jwk" and not (group.get("publicKeyJwk") or group.get("keyJwk")):
                    continue
                params.append(pytest.param(alg, group, form, id=f"{alg}-group{group_index}-{form}"))
    return params


@pytest.mark.parametrize(("alg", "group", "form"), _signature_cases())
def test_signature_vectors(alg: str, group: dict[str, Any], form: str) -> None:
    key = _key(alg, group, form)
    verify = ALGORITHMS[alg].verify
    wrong = []
    for case in group["tests"]:
        expected = case["result"] == "valid"
        got = verify(key.material, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
        if got != expected:
            wrong.append((case["tcId"], case["result"], case["comment"]))
    assert wrong == []


def test_psychic_signatures_are_refused() -> None:
    data = _load(FILES["ecdsa-p256-sha256"])
    group = data["testGroups"][0]
    key = _key("ecdsa-p256-sha256", group, "pem")
    zero = bytes(64)
    assert not ALGORITHMS["ecdsa-p256-sha256"].verify(key.material, b"anything", zero)


def _hmac_groups() -> list[Any]:
    data = _load("hmac_sha256_test.json")
    return [
        pytest.param(group, id=f"key{group['keySize']}-tag{group['tagSize']}-{index}")
        for index, group in enumerate(data["testGroups"])
    ]


@pytest.mark.parametrize("group", _hmac_groups())
def test_hmac_vectors(group: dict[str, Any]) -> None:
    verify = ALGORITHMS["hmac-sha256"].verify
    for case in group["tests"]:
        secret = bytes.fromhex(case["key"])
        table = Table({"id": "w", "alg": "hmac-sha256", "secret": "hex:" + case["key"]}, "keys[0]")
        if len(secret) < 32:
            with pytest.raises(ConfigurationError, match="at least 32 bytes"):
                load_key(table, kinds=KINDS, base_dir=Path.cwd())
            continue
        key = load_key(table, kinds=KINDS, base_dir=Path.cwd())
        got = verify(key.material, bytes.fromhex(case["msg"]), bytes.fromhex(case["tag"]))
        expected = case["result"] == "valid" and group["tagSize"] == 256
        assert got is expected, (case["tcId"], case["comment"])


def _es384_groups() -> list[Any]:
    data = _load("ecdsa_secp384r1_sha384_p1363_test.json")
    return [
        pytest.param(group, form, id=f"ES384-group{index}-{form}")
        for index, group in enumerate(data["testGroups"])
        for form in ("pem", "jwk")
        if form == "pem" or group.get("publicKeyJwk")
    ]


@pytest.mark.parametrize(("group", "form"), _es384_groups())
def test_es384_vectors_through_the_jws_algorithm(group: dict[str, Any], form: str) -> None:
    """ES384 has no RFC 9421 name in the profile; the JWS source verifies it with this entry."""
    from edgeclaims.algorithms import JOSE_ALGORITHMS

    table: dict[str, object] = {"id": "w", "alg": "ES384"}
    if form == "jwk":
        jwk = dict(group["publicKeyJwk"])
        jwk.pop("alg", None)
        table["jwk"] = jwk
    else:
        table["public_key"] = group["publicKeyPem"]
    kinds = {name: algorithm.key_kind for name, algorithm in JOSE_ALGORITHMS.items()}
    key = load_key(Table(table, "keys[0]"), kinds=kinds, base_dir=Path.cwd())
    verify = JOSE_ALGORITHMS["ES384"].verify
    wrong = [
        (case["tcId"], case["result"], case["comment"])
        for case in group["tests"]
        if verify(key.material, bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"]))
        != (case["result"] == "valid")
    ]
    assert wrong == []
