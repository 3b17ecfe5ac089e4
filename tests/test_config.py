"""Configuration: every mistake is a ConfigurationError naming its key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tables import EC_PUBLIC_PEM, HMAC_SECRET, config_mapping

from edgeclaims import load_config
from edgeclaims.config import CONFIG_ENV
from edgeclaims.errors import ConfigurationError
from edgeclaims.sources.rfc9421 import RFC9421Source

SECRET_HEX = "hex:" + HMAC_SECRET.hex()


def _with_key(**key: Any) -> dict[str, Any]:
    mapping = config_mapping()
    mapping["sources"] = [{"type": "rfc9421", "keys": [{"id": "k", "alg": "hmac-sha256", **key}]}]
    return mapping


def _error(mapping: dict[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        load_config(mapping)
    return str(caught.value)


def test_loads_the_table_mapping() -> None:
    config = load_config(config_mapping())
    source = config.sources[0]
    assert isinstance(source, RFC9421Source)
    assert set(source.keys) == {"2026-11", "ec-2026"}
    assert source.required_components == ("@method", "@path", "@query", "x-edge-claims")
    assert source.require_nonce  # replay is on
    assert "secret" not in repr(source.keys["2026-11"]).lower()
    assert HMAC_SECRET.hex() not in repr(config)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        pytest.param(
            {"secret_env": "EDGE_K_UNSET"},
            "sources[0].keys[0].secret_env: environment variable EDGE_K_UNSET is not set",
            id="env-unset",
        ),
        pytest.param(
            {"secret": "hex:00ff"},
            "sources[0].keys[0].secret: HMAC secrets must be at least 32 bytes",
            id="short-secret",
        ),
        pytest.param(
            {"secret": HMAC_SECRET.hex()},
            "sources[0].keys[0].secret: a secret needs an encoding prefix",
            id="no-prefix",
        ),
        pytest.param({"secret": "rot13:abc"}, "unknown secret encoding 'rot13'", id="bad-prefix"),
        pytest.param({"secret": "base64:!!!"}, "the secret is not valid base64", id="bad-base64"),
        pytest.param(
            {"secret": SECRET_HEX, "secret_env": "X"}, "give exactly one of", id="two-sources"
        ),
        pytest.param(
            {"public_key": EC_PUBLIC_PEM}, "a hmac-sha256 key takes a secret", id="public-for-hmac"
        ),
        pytest.param(
            {"secret": SECRET_HEX, "colour": "red"},
            "sources[0].keys[0].colour: unknown setting",
            id="unknown-key-setting",
        ),
    ],
)
def test_key_errors_name_the_path(key: dict[str, Any], message: str) -> None:
    assert message in _error(_with_key(**key))


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_K", "base64url:" + "A" * 43)
    assert len(load_config(_with_key(secret_env="EDGE_K")).sources[0].keys["k"].material) == 32  # type: ignore[attr-defined]
    secret_file = tmp_path / "edge.key"
    secret_file.write_text(SECRET_HEX + "\n")
    config = load_config(_with_key(secret_file=str(secret_file)))
    assert config.sources[0].keys["k"].material == HMAC_SECRET  # type: ignore[attr-defined]
    assert "cannot read" in _error(_with_key(secret_file=str(tmp_path / "absent.key")))


def test_private_key_is_refused_on_the_origin() -> None:
    from cryptography.hazmat.primitives import serialization
    from tables import EC_PRIVATE

    pem = EC_PRIVATE.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    mapping = config_mapping()
    mapping["sources"] = [
        {"type": "rfc9421", "keys": [{"id": "e", "alg": "ecdsa-p256-sha256", "public_key": pem}]}
    ]
    assert "private key" in _error(mapping)


def test_curve_mismatch_is_refused() -> None:
    mapping = config_mapping()
    mapping["sources"] = [
        {"type": "rfc9421", "keys": [{"id": "e", "alg": "ed25519", "public_key": EC_PUBLIC_PEM}]}
    ]
    assert "the key is ec-p256, the algorithm needs ed25519" in _error(mapping)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"mode": "audit"}, "mode: must be one of", id="bad-mode"),
        pytest.param({"max_agee": 30}, "max_agee: unknown setting", id="typo-top"),
        pytest.param({"sources": []}, "sources: at least one source is required", id="no-sources"),
        pytest.param({"trusted_peers": ["10.0.0.300/8"]}, "trusted_peers[0]", id="bad-cidr"),
        pytest.param(
            {"replay": {"store": "sqlite"}}, "replay.path: is required", id="sqlite-no-path"
        ),
        pytest.param(
            {"replay": {"store": "redis", "url": "http://x"}},
            "replay.url: must start with",
            id="redis-url",
        ),
        pytest.param({"public_paths": ["healthz"]}, "public_paths[0]", id="relative-public-path"),
    ],
)
def test_top_level_errors(change: dict[str, Any], message: str) -> None:
    mapping = config_mapping()
    mapping.update(change)
    assert message in _error(mapping)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"max_agee": 30}, "sources[0].max_agee: unknown setting", id="typo"),
        pytest.param(
            {"max_age": True}, "sources[0].max_age: expected an integer", id="bool-as-int"
        ),
        pytest.param({"type": "saml"}, "sources[0].type: unknown source type", id="unknown-type"),
        pytest.param(
            {"required_components": ["@method", "@status", "x-edge-claims"]},
            "required_components[1]",
            id="bad-component",
        ),
        pytest.param(
            {"required_components": ["@method"]},
            "must include the claims header",
            id="claims-not-required",
        ),
        pytest.param(
            {"path_form": "decoded"}, "sources[0].path_form: must be one of", id="bad-path-form"
        ),
        pytest.param({"keys": []}, "sources[0].keys: at least one key", id="no-keys"),
        pytest.param(
            {"claims_header": "X_Edge_Claims"}, "sources[0].claims_header", id="underscore-header"
        ),
    ],
)
def test_source_errors(change: dict[str, Any], message: str) -> None:
    mapping = copy.deepcopy(config_mapping())
    mapping["sources"][0].update(change)  # type: ignore[index]
    assert message in _error(mapping)


def test_duplicate_key_id() -> None:
    mapping = config_mapping()
    mapping["sources"] = [
        {
            "type": "rfc9421",
            "keys": [
                {"id": "k", "alg": "hmac-sha256", "secret": SECRET_HEX},
                {"id": "k", "alg": "hmac-sha256", "secret": SECRET_HEX},
            ],
        }
    ]
    assert "sources[0].keys[1].id: duplicate key id" in _error(mapping)


def test_toml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "edge.key").write_text(SECRET_HEX)
    path = tmp_path / "edgeclaims.toml"
    path.write_text(
        '[edgeclaims]\npublic_paths = ["/healthz"]\n\n[[edgeclaims.sources]]\ntype = "rfc9421"\n'
        'keys = [{ id = "k", alg = "hmac-sha256", secret_file = "edge.key" }]\n'
    )
    # secret_file is relative to the configuration file, not the working directory.
    monkeypatch.chdir(Path("/"))
    assert load_config(path).sources[0].keys["k"].material == HMAC_SECRET  # type: ignore[attr-defined]
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_config().sources[0].name == "rfc9421"
    monkeypatch.delenv(CONFIG_ENV)
    with pytest.raises(ConfigurationError, match="EDGECLAIMS_CONFIG"):
        load_config()
    (tmp_path / "bad.toml").write_text("[edgeclaims\n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "other.toml").write_text("[app]\n")
    with pytest.raises(ConfigurationError, match="no \\[edgeclaims\\] table"):
        load_config(tmp_path / "other.toml")


def test_config_is_frozen() -> None:
    config = load_config(config_mapping())
    with pytest.raises(AttributeError):
        config.mode = "monitor"  # type: ignore[misc]
