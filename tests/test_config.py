"""Configuration: every mistake is a ConfigurationError naming its key path."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm
from tables import EC_PRIVATE, EC_PUBLIC_PEM, HMAC_SECRET, config_mapping

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
        pytest.param(
            {"secret": "rot13:abc"},
            "sources[0].keys[0].secret: unknown secret encoding prefix: use base64:",
            id="bad-prefix",
        ),
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


# -- no secret in a repr or an error (issue #11, finding 9) ------------------------------

#: 32 bytes no test fixture shares, so finding any of its spellings means a leak.
LEAKY = b"hunter2-sup3rs3cret-hunter2-s3cr"


def _spellings(secret: bytes) -> list[str]:
    return [
        secret.decode("latin-1"),
        secret.hex(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
        "hunter2",
        "sup3r",
    ]


def test_repr_of_the_tree_shows_no_password_secret_or_key_material(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_LEAKY", "hex:" + LEAKY.hex())
    (tmp_path / "edge.key").write_text("base64:" + base64.b64encode(LEAKY).decode())
    hmac_keys = [
        {"id": "lit", "alg": "hmac-sha256", "secret": "utf8:" + LEAKY.decode()},
        {"id": "env", "alg": "hmac-sha256", "secret_env": "EDGE_LEAKY"},
        {"id": "file", "alg": "hmac-sha256", "secret_file": str(tmp_path / "edge.key")},
        {
            "id": "jwk",
            "alg": "hmac-sha256",
            "jwk": {"kty": "oct", "k": base64.urlsafe_b64encode(LEAKY).rstrip(b"=").decode()},
        },
    ]
    mapping = config_mapping(
        replay={
            "store": "redis",
            "url": "rediss://edge:hunter2-pw@redis.example:6380/0?password=sup3r-q",
        }
    )
    mapping["sources"] = [
        {"type": "rfc9421", "keys": hmac_keys},
        {
            "type": "jws",
            "name": "idp",
            "issuer": "https://idp.example",
            "audience": "app",
            "jwks_url": "https://svc:hunter2-jwks@idp.example/keys?token=sup3r-t",
        },
    ]
    config = load_config(mapping)
    shown = repr(config)
    for spelling in [*_spellings(LEAKY), "hunter2-pw", "sup3r-q", "hunter2-jwks", "sup3r-t"]:
        assert spelling not in shown
    # What may be shown still is: which store, where, and which keys.
    assert "rediss://***@redis.example:6380/0" in shown
    assert "https://***@idp.example/keys" in shown
    assert "Key(id='env', alg='hmac-sha256')" in shown
    # The URL itself is intact for the store to connect with.
    assert config.replay.url == "rediss://edge:hunter2-pw@redis.example:6380/0?password=sup3r-q"


def test_replay_repr_shows_the_redacted_url_only() -> None:
    from edgeclaims.config import ReplayConfig

    a = ReplayConfig(store="redis", url="redis://:hunter2@h:6379/0")
    assert "hunter2" not in repr(a)
    assert "display_url='redis://***@h:6379/0'" in repr(a)
    # Still compared (and hashed) by the real URL.
    assert a == ReplayConfig(store="redis", url="redis://:hunter2@h:6379/0")
    assert a != ReplayConfig(store="redis", url="redis://:other@h:6379/0")
    assert ReplayConfig(store="memory").display_url is None


def _ec_private_pem() -> str:
    return EC_PRIVATE.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _ec_jwk_with_d() -> dict[str, Any]:
    import json

    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(EC_PRIVATE))
    jwk["d"] = base64.urlsafe_b64encode(LEAKY).rstrip(b"=").decode()
    return jwk


@pytest.mark.parametrize(
    ("key", "env", "file_text", "message"),
    [
        pytest.param(
            {"secret": "hunter2:abc"}, None, None, "unknown secret encoding prefix", id="prefix"
        ),
        pytest.param(
            {"secret": "sup3rs3cret"}, None, None, "needs an encoding prefix", id="no-colon"
        ),
        pytest.param(
            {"secret": "Hex:" + LEAKY.hex()},
            None,
            None,
            "unknown secret encoding prefix",
            id="prefix-case",
        ),
        pytest.param(
            {"secret": "base64:sup3r$3cret!hunter2"}, None, None, "not valid base64", id="base64"
        ),
        pytest.param(
            {"secret": "base64url:sup3r$3cret!hunter2"},
            None,
            None,
            "not valid base64url",
            id="base64url",
        ),
        pytest.param({"secret": "hex:sup3rs3cret"}, None, None, "not valid hex", id="hex"),
        pytest.param({"secret": "utf8:sup3r-hunter2"}, None, None, "at least 32", id="short"),
        pytest.param(
            {"secret_env": "EDGE_LEAKY"},
            "hunter2:" + LEAKY.hex(),
            None,
            "unknown secret encoding prefix",
            id="env-content",
        ),
        pytest.param(
            {"secret_env": "EDGE_LEAKY"},
            "sup3rs3cret-hunter2",
            None,
            "needs an encoding prefix",
            id="env-content-no-colon",
        ),
        pytest.param(
            {"secret_file": "edge.key"},
            None,
            "hunter2:" + LEAKY.hex() + "\n",
            "unknown secret encoding prefix",
            id="file-content",
        ),
        pytest.param(
            {"secret_env": "hex:" + LEAKY.hex()},
            None,
            None,
            "holds a secret literal",
            id="literal-in-secret-env",
        ),
        pytest.param(
            {"secret_file": "utf8:" + LEAKY.decode()},
            None,
            None,
            "holds a secret literal",
            id="literal-in-secret-file",
        ),
        pytest.param(
            {"jwk": {"kty": "oct", "k": "sup3r$3cret!hunter2"}},
            None,
            None,
            "not a valid oct JWK",
            id="jwk-bad-k",
        ),
        pytest.param(
            {"jwk": {"kty": "oct", "k": "c3VwM3I", "x": "hunter2"}},
            None,
            None,
            "at least 32 bytes",
            id="jwk-short-k",
        ),
        pytest.param(
            {"alg": "ecdsa-p256-sha256", "jwk": _ec_jwk_with_d()},
            None,
            None,
            "private key members",
            id="jwk-with-d",
        ),
        pytest.param(
            {"alg": "ecdsa-p256-sha256", "public_key": _ec_private_pem()},
            None,
            None,
            "this is a private key",
            id="private-pem",
        ),
        pytest.param(
            {"alg": "ecdsa-p256-sha256", "public_key": "-----BEGIN sup3r hunter2-----"},
            None,
            None,
            "not a PEM public key",
            id="not-pem",
        ),
    ],
)
def test_key_errors_never_quote_the_secret(
    key: dict[str, Any],
    env: str | None,
    file_text: str | None,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if env is not None:
        monkeypatch.setenv("EDGE_LEAKY", env)
    if file_text is not None:
        (tmp_path / "edge.key").write_text(file_text)
        key = {**key, "secret_file": str(tmp_path / "edge.key")}
    mapping = _with_key(**key)
    with pytest.raises(ConfigurationError) as caught:
        load_config(mapping)
    error = caught.value
    assert error.path.startswith("sources[0].keys[0]")
    assert message in error.problem
    for text in (str(error), repr(error), *map(str, error.args)):
        for spelling in _spellings(LEAKY):
            assert spelling not in text
        if env is None and file_text is None:
            assert "s3cret" not in text
    if "encoding prefix" in message:
        assert "base64:, base64url:, hex: or utf8:" in error.problem
    pem_body = _ec_private_pem().splitlines()[1]
    assert pem_body not in str(error)


# -- warnings on risky source settings -------------------------------------------------


def _warning_ids(mapping: dict[str, Any]) -> list[str]:
    from edgeclaims.config import config_warnings

    return [w.id for w in config_warnings(load_config(mapping))]


@pytest.mark.parametrize(
    ("require_nonce", "store", "warned"),
    [
        (False, "memory", True),  # a store is on, and nonce-less signatures skip it
        (True, "memory", False),
        (False, "off", False),  # W002 says it already: nothing is recorded at all
    ],
)
def test_w015_an_rfc9421_source_accepting_signatures_without_a_nonce(
    require_nonce: bool, store: str, warned: bool
) -> None:
    mapping = _with_key(secret=SECRET_HEX)
    mapping["sources"][0]["require_nonce"] = require_nonce
    mapping["replay"] = {"store": store}
    assert ("W015" in _warning_ids(mapping)) is warned


def _jws_mapping(**settings: object) -> dict[str, Any]:
    mapping = config_mapping()
    key = {"id": "ec", "alg": "ES256", "public_key": EC_PUBLIC_PEM}
    mapping["sources"] = [{"type": "jws", "keys": [key], **settings}]
    return mapping


@pytest.mark.parametrize(
    ("settings", "warned"),
    [
        ({}, True),
        ({"issuer": "https://idp.example"}, False),
        ({"audience": "orders-api"}, False),
    ],
    ids=["neither", "issuer", "audience"],
)
def test_w016_a_jws_source_checking_neither_issuer_nor_audience(
    settings: dict[str, object], warned: bool
) -> None:
    ids = _warning_ids(_jws_mapping(**settings))
    assert ("W016" in ids) is warned
    assert ids.count("W016") <= 1


# -- the Redis URL from the environment ------------------------------------------------

REDIS_URL_WITH_PASSWORD = "rediss://:s3cr3t-Passw0rd@cache.internal:6380/0"


def _redis(**replay: object) -> dict[str, Any]:
    mapping = config_mapping()
    mapping["replay"] = {"store": "redis", **replay}
    return mapping


def test_redis_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGECLAIMS_TEST_REDIS_URL", REDIS_URL_WITH_PASSWORD)
    config = load_config(_redis(url_env="EDGECLAIMS_TEST_REDIS_URL"))
    assert config.replay.url == REDIS_URL_WITH_PASSWORD
    assert "s3cr3t" not in repr(config)
    assert config.replay.display_url == "rediss://***@cache.internal:6380/0"
    assert "W017" not in _warning_ids(_redis(url_env="EDGECLAIMS_TEST_REDIS_URL"))


@pytest.mark.parametrize(
    ("replay", "env", "message"),
    [
        ({"url_env": "EDGECLAIMS_TEST_REDIS_URL"}, None, "EDGECLAIMS_TEST_REDIS_URL is not set"),
        ({"url_env": "EDGECLAIMS_TEST_REDIS_URL"}, "  ", "EDGECLAIMS_TEST_REDIS_URL is empty"),
        (
            {"url_env": "EDGECLAIMS_TEST_REDIS_URL"},
            "http://:s3cr3t-Passw0rd@cache.internal/",
            "replay.url_env: must start with redis://",
        ),
        (
            {"url_env": "EDGECLAIMS_TEST_REDIS_URL", "url": "redis://127.0.0.1/0"},
            REDIS_URL_WITH_PASSWORD,
            "replay.url_env: give url or url_env, not both",
        ),
        ({}, None, "replay.url: is required when store = 'redis'"),
    ],
    ids=["unset", "blank", "not-redis", "both", "neither"],
)
def test_redis_url_errors_name_the_setting_never_the_value(
    monkeypatch: pytest.MonkeyPatch, replay: dict[str, object], env: str | None, message: str
) -> None:
    if env is None:
        monkeypatch.delenv("EDGECLAIMS_TEST_REDIS_URL", raising=False)
    else:
        monkeypatch.setenv("EDGECLAIMS_TEST_REDIS_URL", env)
    error = _error(_redis(**replay))
    assert message in error
    assert "s3cr3t" not in error


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        (REDIS_URL_WITH_PASSWORD, True),
        ("redis://default:s3cr3t@cache.internal:6379/0", True),
        ("redis://cache.internal:6379/0?password=s3cr3t", True),
        ("redis://cache.internal:6379/0", False),
        ("unix:///run/redis.sock?db=0", False),
    ],
)
def test_w017_a_redis_password_written_in_the_configuration(url: str, warned: bool) -> None:
    from edgeclaims.config import config_warnings

    warnings = config_warnings(load_config(_redis(url=url)))
    assert ("W017" in [w.id for w in warnings]) is warned
    assert all("s3cr3t" not in w.message for w in warnings)


def test_url_env_is_ignored_by_the_other_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    # As every setting that does not apply to the chosen store: an unset variable is no error.
    monkeypatch.delenv("EDGECLAIMS_TEST_REDIS_URL", raising=False)
    mapping = config_mapping()
    mapping["replay"] = {"store": "memory", "url_env": "EDGECLAIMS_TEST_REDIS_URL"}
    assert load_config(mapping).replay.url is None
