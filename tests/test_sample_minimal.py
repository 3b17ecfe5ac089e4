"""samples/minimal_wsgi works as its docstring says, under waitress."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from servers import request, waitress_server

from edgeclaims.testing import EdgeSigner

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "minimal_wsgi"
SECRET = "hex:" + bytes(range(32)).hex()


def test_minimal_sample_under_waitress(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGECLAIMS_KEY_DEMO", SECRET)
    monkeypatch.delenv("EDGECLAIMS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("minimal_wsgi_app", SAMPLE / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "minimal_wsgi_app", module)
    spec.loader.exec_module(module)
    signer = EdgeSigner.for_config(module.application.engine.config)
    try:
        with waitress_server(module.application) as port:
            host = f"127.0.0.1:{port}"
            assert request(port, "GET", "/healthz", [], host=host) == (200, {"status": "ok"})
            assert request(port, "GET", "/whoami", [], host=host)[1]["code"] == "missing"
            headers = signer.headers(
                "GET", f"http://{host}/whoami", {"sub": "alice", "groups": ["admins"]}
            )
            status, body = request(port, "GET", "/whoami", list(headers.items()), host=host)
            assert (status, body["sub"], body["roles"]) == (200, "alice", ["admin"])
    finally:
        module.application.engine.replay.close()
        for leftover in SAMPLE.glob("replay.sqlite3*"):
            leftover.unlink()
