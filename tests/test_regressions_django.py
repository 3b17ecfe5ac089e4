"""Regressions in the Django integration: one test per known attack or finding, named after it.

Django is set up as tests/contrib/test_django.py does: the project in
tests/contrib/django_project, a fresh test database for the module, the
engine's clock frozen through ``EdgeClaimsMiddleware.build_engine`` (its
documented hook), requests signed as the edge signs them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CONTRIB = Path(__file__).resolve().parent / "contrib"
if str(CONTRIB) not in sys.path:  # django_project and contrib_tables live there
    sys.path.insert(0, str(CONTRIB))

from contrib_tables import Privilege, framework, privilege_headers  # noqa: E402

django = framework("django")
os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
    teardown_test_environment,
)
from tables import NOW  # noqa: E402

from edgeclaims.contrib.django import load_django_config  # noqa: E402
from edgeclaims.contrib.django.middleware import EdgeClaimsMiddleware  # noqa: E402
from edgeclaims.engine import Engine  # noqa: E402

BACKEND = "edgeclaims.contrib.django.backends.EdgeClaimsBackend"


@pytest.fixture(scope="module", autouse=True)
def django_environment() -> Iterator[None]:
    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        teardown_databases(databases, verbosity=0)
        teardown_test_environment()


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        EdgeClaimsMiddleware,
        "build_engine",
        lambda self: Engine(load_django_config(), clock=lambda: NOW),
    )


@pytest.fixture
def users() -> Iterator[Any]:
    model = get_user_model()
    yield model
    model.objects.all().delete()


def _user_of(claims: dict[str, object]) -> dict[str, Any]:
    path = "/open/user"
    headers = privilege_headers(Privilege("", path, claims, ""), "http://testserver")
    response = Client().get(path, headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = json.loads(response.content)
    return body


def test_django_backend_fullwidth_subject_does_not_log_in_as_admin(users: Any) -> None:
    """Issue #11, item 6: NFKC (``normalize_username``) mapped ``ａdmin`` onto ``admin``.

    A verified identity whose ``sub`` is FULLWIDTH LATIN SMALL LETTER A +
    "dmin" was normalized to ``admin`` and logged in as the existing
    superuser. It must get no user at all: not ``admin``, not a new account.
    """
    users.objects.create_superuser("admin", password="local-only")
    with override_settings(AUTHENTICATION_BACKENDS=[BACKEND]):
        body = _user_of({"sub": "\uff41dmin", "groups": ["okta-admins"]})
    assert body["authenticated"] is False
    assert body["username"] is None
    assert list(users.objects.values_list("username", flat=True)) == ["admin"]
