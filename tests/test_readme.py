"""The README's Flask, Django and FastAPI quickstarts run as written.

Each code block is taken from README.md at test time, unchanged, and run
against one configuration file: Flask and FastAPI by executing the block
(``EDGECLAIMS_CONFIG`` names the file) and driving ``app`` with the
framework's test client; Django in a fresh ``startproject`` whose
settings.py gets the README's settings lines and whose views.py is the
README's views lines (``EDGECLAIMS = BASE_DIR / "edgeclaims.toml"``), in a
subprocess with django.test.Client. Requests are signed with
``EdgeSigner.for_config`` for the host each test client sends.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeclaims.testing import EdgeSigner

README = Path(__file__).resolve().parents[1] / "README.md"

FLASK = "### Flask (4 lines)"
DJANGO = "### Django (3 settings + 1 line per view)"
FASTAPI = "### FastAPI / Starlette (4 lines)"

KEY_ENV = "EDGECLAIMS_README_KEY"

CONFIG = """\
[edgeclaims]
public_paths = ["/healthz"]

[[edgeclaims.sources]]
type = "rfc9421"
keys = [{{ id = "readme", alg = "hmac-sha256", secret_env = "{key_env}" }}]

[edgeclaims.replay]
store = "sqlite"
path = "{replay}"

[edgeclaims.roles]
admin = ["groups=okta-admins"]
"""

VIEWER = {"sub": "vera", "groups": ["viewers"]}
ADMIN = {"sub": "ada", "groups": ["okta-admins"]}

#: (id, path, claims or None for no identity headers, status, what the body holds)
CASES: list[tuple[str, str, dict[str, Any] | None, int, dict[str, Any]]] = [
    ("whoami signed", "/whoami", VIEWER, 200, {"sub": "vera"}),
    ("whoami anonymous", "/whoami", None, 401, {"code": "missing"}),
    ("admin as viewer", "/admin", VIEWER, 403, {"code": "forbidden"}),
    ("admin as admin", "/admin", ADMIN, 200, {}),
]

#: One framework's answers: case id -> (status, JSON body).
Answers = dict[str, tuple[int, dict[str, Any]]]


def readme_block(heading: str) -> str:
    """The first ```python block under ``heading`` in README.md, as written."""
    text = README.read_text(encoding="utf-8")
    start = text.find(f"\n{heading}\n")
    assert start >= 0, f"README.md has no section {heading!r}"
    match = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE).search(text, start)
    assert match is not None, f"README.md has no python block under {heading!r}"
    following = re.compile(r"^#{2,3} ", re.MULTILINE).search(text, start + len(heading) + 2)
    assert following is None or match.start() < following.start(), f"no block under {heading!r}"
    return match.group(1)


def write_config(folder: Path) -> Path:
    path = folder / "edgeclaims.toml"
    replay = (folder / "replay.sqlite3").as_posix()
    path.write_text(CONFIG.format(key_env=KEY_ENV, replay=replay), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def key_env() -> Iterator[dict[str, str]]:
    """The HMAC secret the configuration names, in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        secret = "hex:" + secrets.token_hex(32)
        patch.setenv(KEY_ENV, secret)
        yield {KEY_ENV: secret}


def ask(
    signer: EdgeSigner, base: str, get: Callable[[str, dict[str, str]], tuple[int, Any]]
) -> Answers:
    """Every case through one client; ``get(path, headers)`` returns (status, JSON body)."""
    answers: Answers = {}
    for case_id, path, claims, _, _ in CASES:
        headers = signer.headers("GET", base + path, claims) if claims is not None else {}
        answers[case_id] = get(path, headers)
    return answers


def run_block(heading: str, config: Path) -> Any:
    """Execute a README block with EDGECLAIMS_CONFIG naming ``config``; its ``app``."""
    namespace: dict[str, Any] = {"__name__": "readme_quickstart"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGECLAIMS_CONFIG", str(config))
        exec(compile(readme_block(heading), f"README.md: {heading}", "exec"), namespace)
    return namespace["app"]


@pytest.fixture(scope="module")
def flask_answers(tmp_path_factory: pytest.TempPathFactory, key_env: dict[str, str]) -> Answers:
    pytest.importorskip("flask")
    config = write_config(tmp_path_factory.mktemp("flask"))
    app = run_block(FLASK, config)
    client = app.test_client()

    def get(path: str, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.get(path, headers=headers)
        return response.status_code, response.get_json(force=True)

    # Flask's test client sends Host: localhost.
    return ask(EdgeSigner.for_config(str(config)), "http://localhost", get)


@pytest.fixture(scope="module")
def fastapi_answers(tmp_path_factory: pytest.TempPathFactory, key_env: dict[str, str]) -> Answers:
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():  # Starlette 1.x prefers httpx2 for its TestClient
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    config = write_config(tmp_path_factory.mktemp("fastapi"))
    app = run_block(FASTAPI, config)
    with TestClient(app) as client:

        def get(path: str, headers: dict[str, str]) -> tuple[int, Any]:
            response = client.get(path, headers=headers)
            return response.status_code, response.json()

        # Starlette's test client sends Host: testserver.
        return ask(EdgeSigner.for_config(str(config)), "http://testserver", get)


# The Django README block shows one view (admin); /whoami is the test's own.
DJANGO_VIEWS_EXTRA = """

def whoami(request):
    return JsonResponse({"sub": request.edgeclaims.subject})
"""

DJANGO_URLS = """\
from django.urls import path

from . import views

urlpatterns = [path("whoami", views.whoami), path("admin", views.admin)]
"""

DJANGO_CLIENT = """\
import json
import sys

import django

django.setup()

from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment

from edgeclaims.testing import EdgeSigner

setup_test_environment()  # what Django's test runner does: allows Host: testserver
call_command("check", fail_level="ERROR")  # the edgeclaims checks too (E001…)
signer = EdgeSigner.for_config(str(settings.EDGECLAIMS))
client = Client()
answers = {}
for case_id, path, claims in json.loads(sys.argv[1]):
    headers = signer.headers("GET", "http://testserver" + path, claims) if claims else {}
    response = client.get(path, headers=headers)
    answers[case_id] = [response.status_code, json.loads(response.content or b"null")]
print(json.dumps(answers))
"""


def django_sources() -> tuple[str, str]:
    """The README block's settings lines and views lines, split at its comments."""
    block = readme_block(DJANGO)
    assert block.startswith("# settings.py\n"), block
    settings_part, marker, views_part = block.partition("\n# views.py\n")
    assert marker, "the Django block has no '# views.py' part"
    return settings_part, views_part


@pytest.fixture(scope="module")
def django_answers(tmp_path_factory: pytest.TempPathFactory, key_env: dict[str, str]) -> Answers:
    pytest.importorskip("django")
    root = tmp_path_factory.mktemp("django")
    env = {**os.environ, **key_env}
    env.pop("EDGECLAIMS_CONFIG", None)  # the README's setting names the file
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "readme_site", str(root)],
        check=True,
        env=env,
        capture_output=True,
    )
    settings_lines, views_lines = django_sources()
    package = root / "readme_site"
    with (package / "settings.py").open("a", encoding="utf-8") as settings:
        settings.write("\n\n" + settings_lines)
    (package / "views.py").write_text(views_lines + DJANGO_VIEWS_EXTRA, encoding="utf-8")
    (package / "urls.py").write_text(DJANGO_URLS, encoding="utf-8")
    write_config(root)  # BASE_DIR / "edgeclaims.toml": startproject's BASE_DIR is root
    (root / "ask.py").write_text(DJANGO_CLIENT, encoding="utf-8")
    cases = json.dumps([[case_id, path, claims] for case_id, path, claims, _, _ in CASES])
    done = subprocess.run(
        [sys.executable, "ask.py", cases],
        cwd=root,
        env={**env, "DJANGO_SETTINGS_MODULE": "readme_site.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    return {case_id: (status, body) for case_id, (status, body) in answers.items()}


@pytest.mark.parametrize("framework", ["flask", "django", "fastapi"])
@pytest.mark.parametrize(
    ("case_id", "status", "body"),
    [pytest.param(case_id, status, body, id=case_id) for case_id, _, _, status, body in CASES],
)
def test_readme_quickstart(
    request: pytest.FixtureRequest, framework: str, case_id: str, status: int, body: dict[str, Any]
) -> None:
    answers: Answers = request.getfixturevalue(f"{framework}_answers")
    got_status, got_body = answers[case_id]
    assert got_status == status, got_body
    assert isinstance(got_body, dict)
    assert got_body.items() >= body.items()
