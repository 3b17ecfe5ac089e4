"""The ``edgeclaims`` command: keygen, sign, verify, check, demo."""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from tables import HMAC_SECRET, NOW

from edgeclaims.cli import main

CONFIG = f"""
[edgeclaims]
public_paths = ["/healthz"]

[[edgeclaims.sources]]
type = "rfc9421"
keys = [{{ id = "2026-11", alg = "hmac-sha256", secret = "hex:{HMAC_SECRET.hex()}" }}]

[edgeclaims.roles]
admin = ["groups=okta-admins"]

[edgeclaims.routes]
"/admin" = ["admin"]
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "edgeclaims.toml"
    path.write_text(CONFIG)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def _sign(
    capsys: pytest.CaptureFixture[str], config: Path, url: str, claims: dict[str, object]
) -> list[str]:
    status, out = run(
        capsys,
        "sign",
        "--config",
        str(config),
        "--url",
        url,
        "--claims",
        json.dumps(claims),
        "--created",
        str(NOW),
        "--nonce",
        "cli-test",
        "--format",
        "headers",
    )
    assert status == 0
    return out.strip().splitlines()


def test_sign_then_verify_explains_every_step(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    url = "https://app.example.com/admin?x=1"
    headers = _sign(capsys, config_file, url, {"sub": "root", "groups": ["okta-admins"]})
    assert [h.split(":")[0] for h in headers] == ["X-Edge-Claims", "Signature-Input", "Signature"]
    args = ["verify", "--config", str(config_file), "--url", url, "--now", str(NOW)]
    for header in headers:
        args += ["-H", header]
    status, out = run(capsys, *args)
    assert status == 0, out
    for step in (
        "route",
        "source",
        "select",
        "coverage",
        "time",
        "key",
        "signature",
        "claims",
        "replay",
        "roles: admin",
    ):
        assert f"✓ {step}" in out
    assert "· signature base, as the origin computed it:" in out
    assert '"@path": /admin' in out
    assert "verdict: accepted — subject 'root'" in out


def test_verify_names_the_failing_code(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    url = "https://app.example.com/admin"
    headers = _sign(capsys, config_file, url, {"sub": "alice", "groups": []})
    args = ["verify", "--config", str(config_file), "--url", url, "--now", str(NOW)]
    for header in headers:
        args += ["-H", header]
    status, out = run(capsys, *args)
    assert status == 1
    assert "verdict: refused (403 forbidden)" in out
    status, out = run(capsys, *args[:-2], "--now", str(NOW + 3600), *args[-2:])
    assert "expired" in out
    tampered = [h.replace("/admin", "/other") for h in args]
    tampered[tampered.index("--url") + 1] = "https://app.example.com/elsewhere"
    status, out = run(capsys, *tampered)
    assert status == 1
    assert "bad_signature" in out
    # It says what the origin computed, line by line, and where to look.
    assert '"@path": /elsewhere' in out
    assert '"@authority"  the Host header' in out


def test_verify_keeps_repeated_header_lines_and_reads_header_files(
    capsys: pytest.CaptureFixture[str], config_file: Path, tmp_path: Path
) -> None:
    url = "https://app.example.com/whoami"
    headers = _sign(capsys, config_file, url, {"sub": "alice"})
    listing = tmp_path / "headers.txt"
    listing.write_text("# captured at the origin\n" + "\n".join(headers) + "\n")
    base = ["verify", "--config", str(config_file), "--url", url, "--now", str(NOW)]
    status, out = run(capsys, *base, "-H", f"@{listing}")
    assert status == 0, out
    claims_line = next(h for h in headers if h.startswith("X-Edge-Claims"))
    status, out = run(capsys, *base, "-H", f"@{listing}", "-H", claims_line)
    assert status == 1
    assert "verdict: refused (401 ambiguous)" in out


def test_curl_format_is_shell_ready(capsys: pytest.CaptureFixture[str], config_file: Path) -> None:
    status, out = run(
        capsys,
        "sign",
        "--config",
        str(config_file),
        "--url",
        "https://a.example/whoami",
        "--claims",
        '{"sub":"a"}',
    )
    assert status == 0
    words = shlex.split(out)
    assert words[:3] == ["curl", "-X", "GET"]
    assert words.count("-H") == 3


@pytest.mark.parametrize("alg", ["hmac-sha256", "ecdsa-p256-sha256", "ed25519"])
def test_keygen_output_configures_and_signs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, alg: str
) -> None:
    status, out = run(capsys, "keygen", "--alg", alg, "--id", "k1", "--out", str(tmp_path))
    assert status == 0
    keys_line = next(line for line in out.splitlines() if line.startswith("keys = "))
    config = tmp_path / "c.toml"
    config.write_text(f'[edgeclaims]\n[[edgeclaims.sources]]\ntype = "rfc9421"\n{keys_line}\n')
    status, out = run(capsys, "check", "--config", str(config))
    assert status == 0
    assert "configuration OK" in out
    assert "warning W001: replay.store = 'memory'" in out
    if alg != "hmac-sha256":
        private = tmp_path / "edge-k1.private.pem"
        status, out = run(
            capsys,
            "sign",
            "--key-id",
            "k1",
            "--alg",
            alg,
            "--private-key",
            str(private),
            "--url",
            "https://a.example/x",
            "--claims",
            '{"sub":"a"}',
            "--format",
            "json",
        )
        assert status == 0
        headers = json.loads(out)
        args = ["verify", "--config", str(config), "--url", "https://a.example/x"]
        for name, value in headers.items():
            args += ["-H", f"{name}: {value}"]
        status, out = run(capsys, *args)
        assert status == 0, out


def test_check_reports_configuration_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[edgeclaims]\n[[edgeclaims.sources]]\ntype = "rfc9421"\nkeys = [{ id = "k", alg = "hmac-sha256", secret = "hex:00" }]\n'
    )
    err = io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        assert main(["check", "--config", str(bad)]) == 1
    finally:
        sys.stderr = sys_stderr
    assert "sources[0].keys[0].secret: HMAC secrets must be at least 32 bytes" in err.getvalue()


def test_python_dash_m_and_demo_once() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edgeclaims", "demo", "--once"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "10/10 steps behaved as expected" in out
    for code in ("forbidden", "replayed", "bad_signature", "expired", "missing"):
        assert f"refused: {code}" in out


def test_roles_explains_grants_and_refusals(
    capsys: pytest.CaptureFixture[str], config_file: Path
) -> None:
    status, out = run(
        capsys,
        "roles",
        "--config",
        str(config_file),
        "--claims",
        '{"sub":"a","groups":["okta-admins"]}',
    )
    assert status == 0
    assert "admin" in out
    assert "okta-admins" in out
    status, out = run(
        capsys,
        "roles",
        "--config",
        str(config_file),
        "--claims",
        '{"sub":"a","groups":["x"]}',
        "--json",
    )
    assert status == 0
    document = json.loads(out)
    assert document  # a structured explanation
    assert "admin" in json.dumps(document)


def test_export_policy_is_the_policy_document(
    capsys: pytest.CaptureFixture[str], config_file: Path, tmp_path: Path
) -> None:
    from edgeclaims import load_config

    target = tmp_path / "policy.json"
    status, out = run(capsys, "export-policy", "--config", str(config_file), "--out", str(target))
    assert status == 0
    document = json.loads(target.read_text())
    assert document == json.loads(json.dumps(load_config(config_file).policy.export()))
    status, out = run(capsys, "export-policy", "--config", str(config_file))
    assert json.loads(out) == document


def test_jws_sign_keygen_jwks_and_verify(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out = run(
        capsys,
        "keygen",
        "--alg",
        "ecdsa-p256-sha256",
        "--id",
        "es1",
        "--out",
        str(tmp_path),
        "--jwks",
    )
    assert status == 0
    jwks = json.loads((tmp_path / "edge-es1.jwks.json").read_text())
    assert [k["kid"] for k in jwks["keys"]] == ["es1"]
    assert "d" not in jwks["keys"][0]
    config = tmp_path / "jws.toml"
    config.write_text(
        '[edgeclaims]\n[[edgeclaims.sources]]\ntype = "jws"\nissuer = "https://edge.example.com"\n'
        f'audience = "orders"\njwks_file = "{(tmp_path / "edge-es1.jwks.json").as_posix()}"\n'
    )
    claims = '{"sub":"alice","iss":"https://edge.example.com","aud":"orders"}'
    status, out = run(
        capsys,
        "sign",
        "--profile",
        "jws",
        "--alg",
        "ES256",
        "--key-id",
        "es1",
        "--private-key",
        str(tmp_path / "edge-es1.private.pem"),
        "--url",
        "https://a.example/x",
        "--claims",
        claims,
        "--format",
        "headers",
    )
    assert status == 0
    header = out.strip()
    assert header.startswith("X-Edge-Jwt: ")
    status, out = run(
        capsys, "verify", "--config", str(config), "--url", "https://a.example/x", "-H", header
    )
    assert status == 0, out
    assert "verdict: accepted — subject 'alice' via jws" in out
    status, out = run(
        capsys,
        "verify",
        "--config",
        str(config),
        "--url",
        "https://a.example/x",
        "-H",
        header[:-3] + "AAA",
    )
    assert status == 1
    assert "bad_signature" in out


@pytest.mark.parametrize(
    ("alg", "private_name", "public_name"),
    [
        ("hmac-sha256", "edge-k1.key", None),
        ("ecdsa-p256-sha256", "edge-k1.private.pem", "edge-k1.public.pem"),
    ],
)
def test_keygen_private_keys_are_owner_only_and_never_overwritten(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    alg: str,
    private_name: str,
    public_name: str | None,
) -> None:
    argv = ("keygen", "--alg", alg, "--id", "k1", "--out", str(tmp_path))
    assert run(capsys, *argv)[0] == 0
    private = tmp_path / private_name
    assert private.stat().st_mode & 0o777 == 0o600
    if public_name:
        assert (tmp_path / public_name).stat().st_mode & 0o077 != 0  # public: readable
    before = private.read_bytes()
    status = main(list(argv))
    captured = capsys.readouterr()
    assert status == 1
    assert f"{private_name} exists; --force overwrites it" in captured.err
    assert "Traceback" not in captured.err
    assert private.read_bytes() == before
    private.chmod(0o644)
    assert run(capsys, *argv, "--force")[0] == 0
    assert private.read_bytes() != before
    assert private.stat().st_mode & 0o777 == 0o600


def test_cli_file_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    status = main(["keygen", "--out", str(blocker / "keys")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("edgeclaims: ")
    assert "keys" in err
    status = main(["roles", "--config", str(tmp_path / "absent.toml"), "--claims", "{}"])
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert "absent.toml" in err


def test_windows_acl_command_names_the_account_and_a_fixed_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgeclaims.cli import owner_only_acl_command

    monkeypatch.setenv("USERNAME", "deploy")
    monkeypatch.setenv("USERDOMAIN", "CORP")
    monkeypatch.setenv("SYSTEMROOT", "C:\\Windows")
    command = owner_only_acl_command(Path("C:/keys/edge.key"))
    assert command[0] == "C:\\Windows\\System32\\icacls.exe"
    assert command[2:] == ["/inheritance:r", "/grant:r", "CORP\\deploy:F"]


def _check_config(tmp_path: Path, replay: str) -> Path:
    path = tmp_path / "check.toml"
    path.write_text(CONFIG + "\n[edgeclaims.replay]\n" + replay + "\n")
    return path


def test_check_opens_the_sqlite_store_like_start_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A path the process cannot create fails `check`, not the first request (a 502 on IIS)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    bad = _check_config(tmp_path, f'store = "sqlite"\npath = "{blocker.as_posix()}/r.sqlite3"')
    status = main(["check", "--config", str(bad)])
    captured = capsys.readouterr()
    assert status == 1
    assert "replay.path: cannot open the SQLite replay store" in captured.err
    assert "configuration OK" not in captured.out
    good = _check_config(tmp_path, f'store = "sqlite"\npath = "{tmp_path.as_posix()}/r.sqlite3"')
    status, out = run(capsys, "check", "--config", str(good), "--ping")
    assert status == 0
    assert "replay store: a probe nonce was recorded" in out
    assert (tmp_path / "r.sqlite3").exists()


def test_check_without_the_redis_package_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis → ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "edgeclaims.replay.redis_store", raising=False)
    config = _check_config(tmp_path, 'store = "redis"\nurl = "redis://127.0.0.1:1/0"')
    status = main(["check", "--config", str(config)])
    captured = capsys.readouterr()
    assert status == 1
    assert "'redis' needs the redis package" in captured.err


@pytest.mark.service
def test_check_ping_reaches_redis_or_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, redis_url: str
) -> None:
    config = _check_config(tmp_path, f'store = "redis"\nurl = "{redis_url}"')
    status, out = run(capsys, "check", "--config", str(config), "--ping")
    assert status == 0
    assert "a probe nonce was recorded" in out
    unreachable = _check_config(tmp_path, 'store = "redis"\nurl = "redis://127.0.0.1:1/0"')
    status = main(["check", "--config", str(unreachable)])
    assert status == 0  # not contacted without --ping: Redis may start later
    capsys.readouterr()
    status = main(["check", "--config", str(unreachable), "--ping"])
    assert status == 1
    assert "replay store unreachable" in capsys.readouterr().err


def test_output_to_a_cp1252_file_never_fails(config_file: Path, tmp_path: Path) -> None:
    """Redirected on Windows, stdout is cp1252: ✓ and ✗ must not raise UnicodeEncodeError."""
    import os

    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgeclaims",
            "verify",
            "--config",
            str(config_file),
            "--url",
            "https://app.example.com/whoami",
            "-H",
            "X-Edge-Claims: e30",
        ],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert b"UnicodeEncodeError" not in result.stderr
    assert b"verdict: refused" in result.stdout


def test_verify_looks_up_the_nonce_without_spending_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An admin debugging on the production host must not make the real request fail."""
    config = tmp_path / "edgeclaims.toml"
    store = tmp_path / "replay.sqlite3"
    config.write_text(
        CONFIG + f'\n[edgeclaims.replay]\nstore = "sqlite"\npath = "{store.as_posix()}"\n'
    )
    url = "https://app.example.com/whoami"
    headers = _sign(capsys, config, url, {"sub": "alice"})
    args = ["verify", "--config", str(config), "--url", url, "--now", str(NOW)]
    for header in headers:
        args += ["-H", header]
    for _ in range(2):
        status, out = run(capsys, *args)
        assert status == 0, out
        assert "sqlite store: would be the first sighting (not recorded" in out
    status, out = run(capsys, *args, "--record")
    assert status == 0
    assert "sqlite store: first sighting" in out
    status, out = run(capsys, *args)
    assert status == 1
    assert "already seen (the server refuses it as replayed)" in out
    assert "verdict: refused (401 replayed)" in out


def test_check_warns_about_secrets_in_the_file_and_the_demo_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = tmp_path / "demo.toml"
    demo.write_text(
        Path(__file__)
        .resolve()
        .parents[1]
        .joinpath("samples/flask_app/edgeclaims.toml")
        .read_text()
    )
    status, out = run(capsys, "check", "--config", str(demo))
    assert status == 0
    assert "warning W009: sources[0] key 'demo' is the samples' published demo key" in out
    status, out = run(capsys, "check", "--config", str(_check_config(tmp_path, 'store = "off"')))
    assert "warning W008: sources[0] key '2026-11' is a secret written in the configuration" in out
    monkeypatch.setenv("EDGECLAIMS_KEY_2026_11", "hex:" + HMAC_SECRET.hex())
    from_env = _check_config(tmp_path, 'store = "off"')
    from_env.write_text(
        from_env.read_text().replace(
            f'secret = "hex:{HMAC_SECRET.hex()}"', 'secret_env = "EDGECLAIMS_KEY_2026_11"'
        )
    )
    status, out = run(capsys, "check", "--config", str(from_env))
    assert "W008" not in out
    assert "W009" not in out
