"""The samples answer one request table the same way wherever they run.

Fronts: the sample's real server started as its README says (waitress or
uvicorn, ``sys.executable -m …`` from the sample's folder), the same server
behind the HttpPlatformHandler stand-in (decoded path, appended
X-Forwarded-For, two processes sharing the SQLite replay store, as the
sample's web.config says), and for the WSGI samples a wfastcgi-shaped environ
handed to the object ``WSGI_HANDLER`` names. Each run uses a copy of the
sample's own edgeclaims.toml, so its replay store lands in a temporary folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from httpplatform_standin import HttpPlatformStandIn
from servers import request
from test_iis_environ import run_under_wfastcgi, wfastcgi_environ

from edgeclaims.testing import EdgeSigner

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

VIEWER = {"sub": "vera", "groups": ["viewers"]}
ADMIN = {"sub": "ada", "groups": ["admins"]}

#: How each sample runs locally (its README), the port filled in.
LOCAL_COMMANDS: dict[str, list[str]] = {
    "flask_app": ["-m", "waitress", "--listen=127.0.0.1:{port}", "app:app"],
    "django_site": ["-m", "waitress", "--listen=127.0.0.1:{port}", "django_site.wsgi:application"],
    "fastapi_app": ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "main:app"],
}


@dataclass(frozen=True)
class Sent:
    name: str
    method: str
    target: str
    headers: dict[str, str]


def request_table(signer: EdgeSigner, base: str) -> list[Sent]:
    """The reduced table: every row signed for ``base`` (scheme://host) just now."""

    def signed(target: str, claims: dict[str, Any]) -> dict[str, str]:
        return signer.headers("GET", base + target, claims)

    replayed = signed("/whoami", VIEWER)
    tampered = signed("/whoami", VIEWER)
    name = next(n for n in tampered if n.lower() == "x-edge-claims")
    tampered[name] = signed("/whoami", ADMIN)[name]
    return [
        Sent("viewer-whoami", "GET", "/whoami", signed("/whoami", VIEWER)),
        Sent("admin-admin", "GET", "/admin", signed("/admin", ADMIN)),
        Sent("viewer-admin", "GET", "/admin", signed("/admin", VIEWER)),
        Sent("anonymous-healthz", "GET", "/healthz", {}),
        Sent("anonymous-whoami", "GET", "/whoami", {}),
        Sent("tampered-claims", "GET", "/whoami", tampered),
        Sent("replay-first", "GET", "/whoami", replayed),
        Sent("replay-again", "GET", "/whoami", replayed),
        Sent("percent-encoded-path", "GET", "/who%61mi", signed("/who%61mi", VIEWER)),
    ]


EXPECTED: dict[str, tuple[int, str]] = {
    "viewer-whoami": (200, "vera viewer samples:read"),
    "admin-admin": (200, "ada admin,viewer samples:admin,samples:read"),
    "viewer-admin": (403, "forbidden"),
    "anonymous-healthz": (200, "ok"),
    "anonymous-whoami": (401, "missing"),
    "tampered-claims": (401, "bad_signature"),
    "replay-first": (200, "vera viewer samples:read"),
    "replay-again": (401, "replayed"),
    "percent-encoded-path": (200, "vera viewer samples:read"),
}


def verdict(status: int, body: dict[str, Any]) -> tuple[int, str]:
    """(status, what the body says) in one comparable string."""
    if "code" in body:
        return status, str(body["code"])
    if body.get("status") == "ok":
        return status, "ok"
    assert body["source"] == "rfc9421"
    return status, f"{body['sub']} {','.join(body['roles'])} {','.join(body['permissions'])}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_server(sample: str, env: dict[str, str], log: Path) -> Iterator[int]:
    """The sample under its real server, started from its folder; always stopped."""
    port = _free_port()
    command = [sys.executable, *(a.format(port=port) for a in LOCAL_COMMANDS[sample])]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=SAMPLES / sample, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{sample} did not start:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def sample_env(tmp_path: Path) -> Callable[[str], tuple[Path, dict[str, str]]]:
    def make(sample: str) -> tuple[Path, dict[str, str]]:
        config = tmp_path / "config" / "edgeclaims.toml"
        config.parent.mkdir(parents=True)
        config.write_text((SAMPLES / sample / "edgeclaims.toml").read_text())
        # What IIS would hand the process: not this test process's Django settings.
        inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env = {
            **inherited,
            "EDGECLAIMS_CONFIG": str(config),
            "PYTHONPATH": str(SAMPLES / sample),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
        return config, env

    return make


def _send_all(port: int, config: Path) -> dict[str, tuple[int, str]]:
    host = f"127.0.0.1:{port}"
    signer = EdgeSigner.for_config(str(config))
    results = {}
    for sent in request_table(signer, f"http://{host}"):
        status, body = request(port, sent.method, sent.target, list(sent.headers.items()), host)
        results[sent.name] = verdict(status, body)
    return results


@pytest.mark.parametrize("sample", sorted(LOCAL_COMMANDS))
def test_sample_under_its_own_server(sample: str, sample_env: Any, tmp_path: Path) -> None:
    config, env = sample_env(sample)
    with local_server(sample, env, tmp_path / "server.log") as port:
        assert _send_all(port, config) == EXPECTED


@pytest.mark.parametrize("sample", sorted(LOCAL_COMMANDS))
def test_sample_behind_http_platform_handler(sample: str, sample_env: Any, tmp_path: Path) -> None:
    config, env = sample_env(sample)
    overrides = {k: env[k] for k in ("EDGECLAIMS_CONFIG", "PYTHONPATH", "DJANGO_ALLOWED_HOSTS")}
    with HttpPlatformStandIn(
        SAMPLES / sample / "web.config",
        log_dir=tmp_path / "logs",
        env_overrides=overrides,
        base_env=env,
    ) as standin:
        # processesPerApplication="2": replay-first and replay-again reach different
        # processes, so "replayed" proves the SQLite store is shared.
        assert len(standin.processes) == 2
        assert _send_all(standin.port, config) == EXPECTED, standin.logs()


@pytest.mark.parametrize("sample", ["flask_app", "django_site"])
def test_sample_under_wfastcgi_environ(sample: str, sample_env: Any) -> None:
    config, _ = sample_env(sample)
    signer = EdgeSigner.for_config(str(config))
    base = "https://app.example.com"
    table = request_table(signer, base)
    environs = [wfastcgi_environ(s.method, base + s.target, s.headers) for s in table]
    results = run_under_wfastcgi(sample, config, environs)["results"]
    assert {s.name: verdict(*r) for s, r in zip(table, results)} == EXPECTED
