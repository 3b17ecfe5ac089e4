"""The pytest plugin users get with edgeclaims (the ``pytest11`` entry point ``edgeclaims``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tables import HMAC_SECRET

USER_TEST = """
from flask import Flask
from edgeclaims.contrib.flask import EdgeClaims, current_identity, roles_required

app = Flask(__name__)
EdgeClaims(app)

@app.get("/admin")
@roles_required("admin")
def admin():
    return {"sub": current_identity.subject}

def test_admin(edgeclaims_signer):
    root = {"sub": "root", "groups": ["okta-admins"]}
    headers = edgeclaims_signer.headers("GET", "http://localhost/admin", root)
    response = app.test_client().get("/admin", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"sub": "root"}

def test_viewer(edgeclaims_signer):
    headers = edgeclaims_signer.headers("GET", "http://localhost/admin", {"sub": "alice"})
    assert app.test_client().get("/admin", headers=headers).status_code == 403
"""


def _run(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user_views.py").write_text(USER_TEST)
    config = tmp_path / "edgeclaims.toml"
    config.write_text(
        '[edgeclaims]\n[edgeclaims.replay]\nstore = "off"\n[[edgeclaims.sources]]\n'
        f'type = "rfc9421"\nkeys = [{{ id = "k", alg = "hmac-sha256", secret = "hex:{HMAC_SECRET.hex()}" }}]\n'
        '[edgeclaims.roles]\nadmin = ["groups=okta-admins"]\n'
    )
    env = {**os.environ, "EDGECLAIMS_CONFIG": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *flags, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fixtures_sign_for_a_users_own_flask_app(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_plugin_can_be_turned_off(tmp_path: Path) -> None:
    result = _run(tmp_path, "-p", "no:edgeclaims")
    assert result.returncode != 0
    assert "fixture 'edgeclaims_signer' not found" in result.stdout
