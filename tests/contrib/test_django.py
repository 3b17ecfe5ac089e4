"""Django: the shared tables through Django's test clients (WSGI and ASGI) and its ASGI
handler, the decorators and mixins, the system checks and the authentication backend.

The project is tests/contrib/django_project. The engine's clock is frozen by
patching ``EdgeClaimsMiddleware.build_engine`` (its documented hook).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import unicodedata
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest
from contrib_tables import (
    Privilege,
    contrib_mapping,
    engine_code,
    framework,
    privilege_headers,
    verdict,
    wsgi_headers,
)

django = framework("django")
os.environ["DJANGO_SETTINGS_MODULE"] = "django_project.settings"
django.setup()

from django.contrib.auth import authenticate, get_user_model  # noqa: E402
from django.core.checks import run_checks  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import SystemCheckError  # noqa: E402
from django.http import HttpResponseBase  # noqa: E402
from django.test import AsyncClient, Client, RequestFactory, override_settings  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_databases,
    setup_test_environment,
    teardown_databases,
    teardown_test_environment,
)
from tables import ADMIN, NOW, VIEWER, Case, signed  # noqa: E402

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware  # noqa: E402
from edgeclaims.config import config_warnings, load_config  # noqa: E402
from edgeclaims.contrib.django import load_django_config  # noqa: E402
from edgeclaims.contrib.django.backends import EdgeClaimsBackend  # noqa: E402
from edgeclaims.contrib.django.checks import check_settings  # noqa: E402
from edgeclaims.contrib.django.middleware import EdgeClaimsMiddleware  # noqa: E402
from edgeclaims.engine import Engine  # noqa: E402
from edgeclaims.errors import ConfigurationError  # noqa: E402
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ  # noqa: E402
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware  # noqa: E402

ORIGIN = "http://testserver"
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


def run(awaitable: Awaitable[Any]) -> Any:
    """Await one AsyncClient call (a coroutine in Django 5, a plain awaitable in 4.2)."""

    async def wait() -> Any:
        return await awaitable

    return asyncio.run(wait())


def _result(response: HttpResponseBase) -> tuple[int, dict[str, Any]]:
    return response.status_code, json.loads(response.content)  # type: ignore[attr-defined]


def send_wsgi(case: Case) -> tuple[int, dict[str, Any]]:
    """Django's test client, with the environ a WSGI server builds (raw URI included)."""
    environ = build_wsgi_environ(case.method, case.url, wsgi_headers(case))
    return _result(Client().request(**environ))


def send_asgi(case: Case) -> tuple[int, dict[str, Any]]:
    """Django's async test client, with the scope an ASGI server builds (raw_path included)."""
    scope = build_asgi_scope(case.method, case.url, case.headers)
    return _result(run(AsyncClient().request(**scope)))


async def _call_asgi(app: Any, scope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    sent_body = asyncio.Event()
    disconnected = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if not sent_body.is_set():
            sent_body.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    disconnected.set()
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


def send_asgi_handler(case: Case) -> tuple[int, dict[str, Any]]:
    """Django's real ASGIHandler, as uvicorn would call it."""
    scope = build_asgi_scope(case.method, case.url, case.headers)
    return asyncio.run(_call_asgi(ASGIHandler(), scope))


SENDERS = {"wsgi": send_wsgi, "asgi": send_asgi, "asgi-handler": send_asgi_handler}


def test_django_series_under_test() -> None:
    """CI runs this file once per Django series; it names the one it expects."""
    expected = os.environ.get("EDGECLAIMS_EXPECT_DJANGO")
    if expected:
        assert django.get_version().startswith(expected + ".")


# -- the shared tables ---------------------------------------------------------


@pytest.mark.parametrize("server", list(SENDERS))
def test_table(table_case: Case, server: str) -> None:
    table_case.skip_for("no-body", *(["wsgi"] if server == "wsgi" else []))
    status, body = SENDERS[server](table_case)
    assert verdict(status, body) == engine_code(table_case) == table_case.expect


@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
def test_privileges(privilege_case: Privilege, mode: str) -> None:
    headers = privilege_headers(privilege_case, ORIGIN)
    if mode == "wsgi":
        response = Client().get(privilege_case.path, headers=headers)
    else:
        response = run(AsyncClient().get(privilege_case.path, headers=headers))
    assert verdict(*_result(response)) == privilege_case.expect
    if privilege_case.expect != "ok":
        assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
@pytest.mark.parametrize("path", ["/open/async-admin", "/open/cbv-admin", "/open/async-cbv-admin"])
@pytest.mark.parametrize(
    ("claims", "expect"),
    [(None, "missing"), (VIEWER, "forbidden"), (ADMIN, "ok")],
    ids=["anonymous", "viewer", "admin"],
)
def test_async_views_and_mixins(
    mode: str, path: str, claims: dict[str, object] | None, expect: str
) -> None:
    headers = privilege_headers(Privilege("x", path, claims, expect), ORIGIN)
    if mode == "wsgi":
        response = Client().get(path, headers=headers)
    else:
        response = run(AsyncClient().get(path, headers=headers))
    assert verdict(*_result(response)) == expect


def test_permission_mixin() -> None:
    path = "/open/cbv-perm-write"
    viewer = Client().get(path, headers=privilege_headers(Privilege("", path, VIEWER, ""), ORIGIN))
    admin = Client().get(path, headers=privilege_headers(Privilege("", path, ADMIN, ""), ORIGIN))
    assert verdict(*_result(viewer)) == "forbidden"
    assert verdict(*_result(admin)) == "ok"


# -- the middleware ---------------------------------------------------------------


def test_the_middleware_is_sync_and_async_capable() -> None:
    assert EdgeClaimsMiddleware.sync_capable
    assert EdgeClaimsMiddleware.async_capable
    sync = EdgeClaimsMiddleware(lambda request: HttpResponseBase())

    async def get_response(request: Any) -> HttpResponseBase:
        return HttpResponseBase()

    from asgiref.sync import iscoroutinefunction

    assert not iscoroutinefunction(sync)
    assert iscoroutinefunction(EdgeClaimsMiddleware(get_response))


@pytest.mark.parametrize("outer", ["wsgi", "asgi"])
def test_outer_middleware_outcome_is_reused_not_reverified(
    outer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the project wrapped by edgeclaims.wsgi/asgi too, nothing is verified twice.

    Both layers share one engine (one replay store): a second verification of
    the same request would refuse it as replayed.
    """
    engine = Engine(load_config(contrib_mapping()), clock=lambda: NOW)  # memory replay store
    monkeypatch.setattr(EdgeClaimsMiddleware, "build_engine", lambda self: engine)
    case = Case("ok", "GET", "https://app.example.com/whoami", signed(nonce="reuse"), "ok")
    app: Any
    if outer == "wsgi":
        app = WSGIMiddleware(WSGIHandler(), engine=engine)
    else:
        app = ASGIMiddleware(ASGIHandler(), engine=engine)

    def once() -> str:
        if outer == "wsgi":
            environ = build_wsgi_environ(case.method, case.url, dict(case.headers))
            statuses: list[str] = []
            body = b"".join(app(environ, lambda status, headers, *_: statuses.append(status)))
            return verdict(int(statuses[0][:3]), json.loads(body))
        scope = build_asgi_scope(case.method, case.url, case.headers)
        return verdict(*asyncio.run(_call_asgi(app, scope)))

    assert [once(), once()] == ["ok", "replayed"]


def test_decorator_without_the_middleware_is_a_loud_error() -> None:
    from edgeclaims.contrib.django.decorators import roles_required

    view = roles_required("admin")(lambda request: HttpResponseBase())
    with pytest.raises(ConfigurationError, match="MIDDLEWARE"):
        view(RequestFactory().get("/"))


def test_configuration_errors_stop_the_handler_at_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.undo()  # the real build_engine
    with (
        override_settings(EDGECLAIMS=contrib_mapping(mode="sometimes")),
        pytest.raises(ConfigurationError, match="mode"),
    ):
        WSGIHandler()


# -- system checks -------------------------------------------------------------


def _ids(messages: list[Any]) -> list[str]:
    # The tests' configuration writes its HMAC secret in the mapping, which
    # is W008 every time; test_checks_warn_about_secrets_in_the_configuration
    # checks that one.
    return [m.id for m in messages if m.id != "edgeclaims.W008"]


def test_checks_warn_about_secrets_in_the_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "edgeclaims.W008" in [m.id for m in check_settings()]
    demo_key = "utf8:edgeclaims-demo-key-NOT-A-SECRET"
    monkeypatch.setenv("EDGECLAIMS_TEST_KEY", demo_key)
    from_env = {"id": "2026-11", "alg": "hmac-sha256", "secret_env": "EDGECLAIMS_TEST_KEY"}
    sources = [{"type": "rfc9421", "keys": [from_env]}]
    with override_settings(EDGECLAIMS=contrib_mapping(sources=sources)):
        assert [m.id for m in check_settings()] == ["edgeclaims.W001", "edgeclaims.W009"]
    monkeypatch.setenv("EDGECLAIMS_TEST_KEY", "hex:" + "ab" * 32)
    with override_settings(EDGECLAIMS=contrib_mapping(sources=sources)):
        assert [m.id for m in check_settings()] == ["edgeclaims.W001"]


def test_checks_warn_about_the_memory_replay_store() -> None:
    messages = check_settings()
    assert _ids(messages) == ["edgeclaims.W001"]
    # The same validator as `edgeclaims check`.
    assert [(m.id, m.msg) for m in messages if m.id != "edgeclaims.W008"] == [
        (f"edgeclaims.{w.id}", w.message)
        for w in config_warnings(load_django_config())
        if w.id != "W008"
    ]


def test_checks_run_with_django_checks() -> None:
    assert "edgeclaims.W001" in _ids(run_checks(tags=["edgeclaims"]))


@pytest.mark.parametrize(
    ("overrides", "ids"),
    [
        ({"replay": {"store": "off"}}, ["edgeclaims.W002"]),
        (
            {"replay": {"store": "memory", "on_error": "allow"}},
            ["edgeclaims.W001", "edgeclaims.W003"],
        ),
        ({"replay": {"store": "off"}, "mode": "monitor"}, ["edgeclaims.W002", "edgeclaims.W004"]),
        (
            {"replay": {"store": "off"}, "require_identity": False},
            ["edgeclaims.W002", "edgeclaims.W005"],
        ),
        (
            {"replay": {"store": "off"}, "trust_original_url": True},
            ["edgeclaims.W002", "edgeclaims.W006"],
        ),
    ],
    ids=["replay-off", "on-error-allow", "monitor", "require-identity-false", "trust-original-url"],
)
def test_check_ids_for_risky_settings(overrides: dict[str, object], ids: list[str]) -> None:
    with override_settings(EDGECLAIMS=contrib_mapping(**overrides)):
        assert _ids(check_settings()) == ids


def test_configuration_error_is_E001() -> None:
    with override_settings(EDGECLAIMS=contrib_mapping(replay={"store": "sqlite"})):
        messages = check_settings()
    assert _ids(messages) == ["edgeclaims.E001"]
    assert "replay.path" in messages[0].msg


def test_missing_configuration_is_E001(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGECLAIMS_CONFIG", raising=False)
    with override_settings(EDGECLAIMS=None):
        messages = check_settings()
    assert _ids(messages) == ["edgeclaims.E001"]
    assert "EDGECLAIMS_CONFIG" in messages[0].msg


def test_manage_py_check_fails_on_E001() -> None:
    with (
        override_settings(EDGECLAIMS=contrib_mapping(mode="sometimes")),
        pytest.raises(SystemCheckError, match=r"edgeclaims\.E001"),
    ):
        call_command("check", verbosity=0)


def test_missing_middleware_is_W010() -> None:
    with override_settings(MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"]):
        assert "edgeclaims.W010" in _ids(check_settings())
    subclass = f"{__name__}.FrozenMiddleware"
    with override_settings(MIDDLEWARE=[subclass]):
        assert "edgeclaims.W010" not in _ids(check_settings())


class FrozenMiddleware(EdgeClaimsMiddleware):
    def build_engine(self) -> Engine:
        return Engine(load_django_config(), clock=lambda: NOW)


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        ({"username_claim": "email", "mirror_groups": True}, []),
        ({"mirror_group": True}, ["edgeclaims.E002"]),
        ({"create_users": "yes"}, ["edgeclaims.E002"]),
        ({"superuser_roles": ["admin"]}, ["edgeclaims.W007"]),
        ({"username_prefix": "edge:"}, []),
        ({"username_prefix": 7}, ["edgeclaims.E002"]),
    ],
    ids=["valid", "unknown-key", "wrong-type", "superuser-roles", "prefix", "prefix-not-a-string"],
)
def test_backend_settings_checks(options: dict[str, object], ids: list[str]) -> None:
    with override_settings(AUTHENTICATION_BACKENDS=[BACKEND], EDGECLAIMS_BACKEND=options):
        assert _ids(check_settings()) == ["edgeclaims.W001", *ids]


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("ｅdge:", id="changed-by-nfkc"),
        pytest.param("edge\u00b2:", id="superscript-changed-by-nfkc"),
        pytest.param("edge :", id="space"),
        pytest.param("edge\n", id="control-character"),
        pytest.param("edge\u200b:", id="invisible-format-character"),
        pytest.param("e" * 150, id="fills-the-username-field"),
    ],
)
def test_bad_username_prefix_is_E002_and_stops_start_up(prefix: str) -> None:
    with override_settings(
        AUTHENTICATION_BACKENDS=[BACKEND], EDGECLAIMS_BACKEND={"username_prefix": prefix}
    ):
        messages = check_settings()
        assert _ids(messages) == ["edgeclaims.W001", "edgeclaims.E002"]
        (error,) = [m for m in messages if m.id == "edgeclaims.E002"]
        assert "EDGECLAIMS_BACKEND.username_prefix" in error.msg
        with pytest.raises(ConfigurationError, match="username_prefix"):
            WSGIHandler()


# -- the authentication backend -------------------------------------------------


@pytest.fixture
def users() -> Iterator[Any]:
    model = get_user_model()
    yield model
    model.objects.all().delete()
    from django.contrib.auth.models import Group

    Group.objects.all().delete()


def _user_of(path: str, claims: dict[str, object] | None, mode: str = "wsgi") -> dict[str, Any]:
    headers = privilege_headers(Privilege("", path, claims, ""), ORIGIN)
    if mode == "wsgi":
        response = Client().get(path, headers=headers)
    else:
        response = run(AsyncClient().get(path, headers=headers))
    status, body = _result(response)
    assert status == 200, body
    return body


BACKEND_OPTIONS: dict[str, object] = {"mirror_groups": True, "staff_roles": ["admin"]}
BACKEND_SETTINGS = {
    "AUTHENTICATION_BACKENDS": [BACKEND, "django.contrib.auth.backends.ModelBackend"],
    "EDGECLAIMS_BACKEND": BACKEND_OPTIONS,
}


@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
def test_backend_maps_the_identity_to_a_user(users: Any, mode: str) -> None:
    path = "/open/user" if mode == "wsgi" else "/open/async-user"
    with override_settings(**BACKEND_SETTINGS):
        admin = _user_of(path, ADMIN, mode)
        viewer = _user_of(path, VIEWER, mode)
        anonymous = _user_of(path, None, mode)
    assert admin == {
        "authenticated": True,
        "username": "root",
        "is_staff": True,
        "is_superuser": False,
        "groups": ["admin", "staff"],
        "backend": BACKEND,
    }
    assert (viewer["username"], viewer["is_staff"], viewer["groups"]) == ("alice", False, ["staff"])
    assert anonymous["authenticated"] is False
    created = users.objects.get(username="root")
    assert not created.has_usable_password()


def test_roles_are_mirrored_again_when_they_change(users: Any) -> None:
    with override_settings(**BACKEND_SETTINGS):
        _user_of("/open/user", ADMIN)
        demoted = _user_of("/open/user", {"sub": "root", "groups": ["staff"]})
    assert (demoted["is_staff"], demoted["groups"]) == (False, ["staff"])


def test_backend_can_refuse_to_create_users(users: Any) -> None:
    settings = {**BACKEND_SETTINGS, "EDGECLAIMS_BACKEND": {"create_users": False}}
    users.objects.create_user("root")
    with override_settings(**settings):
        assert _user_of("/open/user", VIEWER)["authenticated"] is False
        assert _user_of("/open/user", ADMIN)["username"] == "root"
    assert not users.objects.filter(username="alice").exists()


def test_inactive_users_stay_locked_out(users: Any) -> None:
    users.objects.create_user("alice", is_active=False)
    with override_settings(**BACKEND_SETTINGS):
        assert _user_of("/open/user", VIEWER)["authenticated"] is False


def test_username_claim_is_configurable(users: Any) -> None:
    settings = {**BACKEND_SETTINGS, "EDGECLAIMS_BACKEND": {"username_claim": "email"}}
    with override_settings(**settings):
        assert _user_of("/open/user", VIEWER)["username"] == "alice@example.com"
        # No usable username claim: anonymous, not a user named after nothing.
        assert _user_of("/open/user", ADMIN)["authenticated"] is False


def test_a_session_never_stands_in_for_the_edge(users: Any) -> None:
    client = Client()
    client.force_login(users.objects.create_user("root"), BACKEND)
    with override_settings(**BACKEND_SETTINGS):
        status, body = _result(client.get("/open/user"))
    assert (status, body["authenticated"]) == (200, False)


def test_backend_never_reads_headers(users: Any) -> None:
    """Unlike RemoteUserBackend, only request.edgeclaims counts — never a header."""
    users.objects.create_user("root")
    with override_settings(**BACKEND_SETTINGS):
        request = RequestFactory().get(
            "/", headers={"Remote-User": "root", "X-Edge-Claims": "eyJzdWIiOiJyb290In0"}
        )
        request.META["REMOTE_USER"] = "root"
        backend = EdgeClaimsBackend()
        assert backend.authenticate(request, edgeclaims=True) is None
        # A login form's credentials never reach it.
        request.edgeclaims = None  # type: ignore[attr-defined]
        assert authenticate(request, username="root", password="") is None


# -- the backend never maps one identity onto another account (issue #11, item 6) --

#: Subjects that Unicode NFKC — Django's ``normalize_username`` — turns into
#: the username of an existing account.
NFKC_COLLISIONS = [
    pytest.param("ａdmin", "admin", id="fullwidth-a"),
    pytest.param("ＡＤＭＩＮ", "ADMIN", id="fullwidth-word"),
    pytest.param("ﬁnance", "finance", id="fi-ligature"),
    pytest.param("admin²", "admin2", id="superscript-two"),
    pytest.param("ᵃdmin", "admin", id="modifier-letter-a"),
    pytest.param("Ⅸ", "IX", id="roman-numeral-nine"),
    pytest.param("root１", "root1", id="fullwidth-digit"),
    pytest.param("𝟏admin", "1admin", id="mathematical-bold-digit"),
    pytest.param("\u212aelvin", "Kelvin", id="kelvin-sign"),
    pytest.param("ſam", "sam", id="long-s"),
    pytest.param("ju\u0308rgen", "jürgen", id="decomposed-umlaut"),
]


def _backend_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "edgeclaims" and r.levelno == logging.WARNING and "EdgeClaimsBackend" in r.msg
    ]


@pytest.mark.parametrize("mode", ["wsgi", "asgi"])
@pytest.mark.parametrize(("subject", "existing"), NFKC_COLLISIONS)
def test_nfkc_colliding_subject_is_refused(
    users: Any, caplog: pytest.LogCaptureFixture, subject: str, existing: str, mode: str
) -> None:
    assert unicodedata.normalize("NFKC", subject) == existing  # the table means what it says
    users.objects.create_superuser(existing, password="local-only")
    path = "/open/user" if mode == "wsgi" else "/open/async-user"
    with override_settings(**BACKEND_SETTINGS), caplog.at_level(logging.WARNING, "edgeclaims"):
        body = _user_of(path, {"sub": subject, "groups": ["okta-admins"]}, mode)
    assert body["authenticated"] is False
    assert list(users.objects.values_list("username", flat=True)) == [existing]  # none created
    account = users.objects.get(username=existing)
    assert (account.is_superuser, account.is_staff, account.groups.count()) == (True, True, 0)
    warnings = _backend_warnings(caplog)
    assert len(warnings) == 1
    assert "'sub' claim changes under Unicode NFKC" in warnings[0]
    assert all(subject not in message for message in warnings)


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param("alice", id="ascii"),
        pytest.param("jürgen", id="composed-umlaut"),
        pytest.param("王小明", id="cjk"),
        pytest.param("auth0|5f7c8ec7c33c6c004bbafe82", id="auth0-subject"),
        pytest.param("4b1d5e3c-7a7f-4e8e-9c51-0d6f0e0b9a11", id="entra-oid"),
        pytest.param("a" * 150, id="exactly-max-length"),
    ],
)
def test_ordinary_subjects_become_their_username(users: Any, subject: str) -> None:
    with override_settings(**BACKEND_SETTINGS):
        body = _user_of("/open/user", {"sub": subject, "groups": ["staff"]})
    assert (body["authenticated"], body["username"]) == (True, subject)


UPN = {"username_claim": "upn"}


@pytest.mark.parametrize(
    ("options", "claims", "problem"),
    [
        # The engine already refuses a blank or control-character `sub`
        # (incomplete_claims); the backend guards any username_claim itself.
        pytest.param(UPN, {"sub": "a", "upn": ""}, "is missing", id="empty-claim"),
        pytest.param(UPN, {"sub": "a", "upn": "   "}, "is missing", id="blank-claim"),
        pytest.param(UPN, {"sub": "a"}, "is missing", id="no-claim"),
        pytest.param(
            {"username_claim": "email"},
            {"sub": "alice", "email": ["alice@example.com"]},
            "not a string",
            id="claim-not-a-string",
        ),
        pytest.param({}, {"sub": "a" * 151}, "longer than 150", id="longer-than-max-length"),
        pytest.param(
            {"username_prefix": "edge:"},
            {"sub": "a" * 146},
            "longer than 150",
            id="prefix-makes-it-too-long-never-truncated",
        ),
        pytest.param(UPN, {"sub": "a", "upn": "root\n"}, "control characters", id="newline"),
        pytest.param(UPN, {"sub": "a", "upn": "ro\x00ot"}, "control characters", id="nul"),
    ],
)
def test_unusable_username_claims_are_refused(
    users: Any,
    caplog: pytest.LogCaptureFixture,
    options: dict[str, object],
    claims: dict[str, object],
    problem: str,
) -> None:
    users.objects.create_user("a" * 150)
    users.objects.create_user("root")
    settings = {**BACKEND_SETTINGS, "EDGECLAIMS_BACKEND": options}
    with override_settings(**settings), caplog.at_level(logging.WARNING, "edgeclaims"):
        assert _user_of("/open/user", claims)["authenticated"] is False
    assert users.objects.count() == 2
    warnings = _backend_warnings(caplog)
    assert len(warnings) == 1
    assert problem in warnings[0]


def test_username_prefix_stops_the_collision_with_local_accounts(users: Any) -> None:
    users.objects.create_superuser("admin", password="local-only")
    claims = {"sub": "admin", "groups": ["staff"]}
    with override_settings(**BACKEND_SETTINGS):
        # The documented default: an edge subject equal to a local username is that user.
        assert _user_of("/open/user", claims)["username"] == "admin"
    settings = {
        **BACKEND_SETTINGS,
        "EDGECLAIMS_BACKEND": {**BACKEND_OPTIONS, "username_prefix": "edge:"},
    }
    with override_settings(**settings):
        body = _user_of("/open/user", claims)
        refused = _user_of("/open/user", {"sub": "ａdmin", "groups": ["staff"]})
    assert (body["username"], body["is_superuser"], body["is_staff"]) == (
        "edge:admin",
        False,
        False,
    )
    assert refused["authenticated"] is False
    assert users.objects.get(username="admin").is_superuser
    assert sorted(users.objects.values_list("username", flat=True)) == ["admin", "edge:admin"]


def test_username_prefix_applies_to_existing_users_only_mode(users: Any) -> None:
    users.objects.create_user("alice")
    users.objects.create_user("edge:root")
    settings = {
        **BACKEND_SETTINGS,
        "EDGECLAIMS_BACKEND": {"create_users": False, "username_prefix": "edge:"},
    }
    with override_settings(**settings):
        assert _user_of("/open/user", VIEWER)["authenticated"] is False
        assert _user_of("/open/user", ADMIN)["username"] == "edge:root"


@pytest.mark.parametrize("create_users", [True, False], ids=["get-or-create", "existing-only"])
def test_a_case_insensitive_lookup_never_returns_another_account(
    users: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    create_users: bool,
) -> None:
    """A custom manager or collation (citext, MySQL's *_ci) that finds ``admin`` for ``Admin``."""
    manager = users._default_manager
    admin = users.objects.create_superuser("admin", password="local-only")

    def get_or_create(**lookup: str) -> tuple[Any, bool]:
        found = manager.filter(username__iexact=lookup["username"]).first()
        return (found, False) if found else (manager.create_user(lookup["username"]), True)

    monkeypatch.setattr(manager, "get_or_create", get_or_create)
    monkeypatch.setattr(
        manager, "get_by_natural_key", lambda username: manager.get(username__iexact=username)
    )
    settings = {
        **BACKEND_SETTINGS,
        "EDGECLAIMS_BACKEND": {**BACKEND_OPTIONS, "create_users": create_users},
    }
    with override_settings(**settings), caplog.at_level(logging.WARNING, "edgeclaims"):
        body = _user_of("/open/user", {"sub": "Admin", "groups": ["staff"]})
    assert body["authenticated"] is False
    admin.refresh_from_db()
    # Refused before configure_user: the roles of "Admin" were not mirrored onto admin.
    assert (admin.is_superuser, admin.is_staff, admin.groups.count()) == (True, True, 0)
    assert "found a user of another username" in _backend_warnings(caplog)[0]


class LowercasingBackend(EdgeClaimsBackend):
    def clean_username(self, identity: Any) -> str | None:
        username = super().clean_username(identity)
        return None if username is None else username.lower()


class RefusingBackend(EdgeClaimsBackend):
    def clean_username(self, identity: Any) -> str | None:
        return None if identity.subject == "root" else super().clean_username(identity)


def test_clean_username_may_not_rewrite_the_claim(
    users: Any, caplog: pytest.LogCaptureFixture
) -> None:
    users.objects.create_superuser("admin", password="local-only")
    backend = f"{__name__}.LowercasingBackend"
    with (
        override_settings(AUTHENTICATION_BACKENDS=[backend]),
        caplog.at_level(logging.WARNING, "edgeclaims"),
    ):
        assert _user_of("/open/user", {"sub": "ADMIN"})["authenticated"] is False
        assert _user_of("/open/user", VIEWER)["username"] == "alice"  # lower-case already
    assert sorted(users.objects.values_list("username", flat=True)) == ["admin", "alice"]
    assert "was rewritten by clean_username" in _backend_warnings(caplog)[0]


def test_clean_username_may_refuse_more_identities(users: Any) -> None:
    with override_settings(AUTHENTICATION_BACKENDS=[f"{__name__}.RefusingBackend"]):
        assert _user_of("/open/user", ADMIN)["authenticated"] is False
        assert _user_of("/open/user", VIEWER)["username"] == "alice"
    assert list(users.objects.values_list("username", flat=True)) == ["alice"]


def test_a_role_name_the_policy_lacks_is_E003_at_start_up() -> None:
    """``roles_required("amdin")`` would be a silent 403 for everyone."""
    assert "edgeclaims.E003" not in _ids(check_settings())
    roles = {"admin": ["groups=okta-admins"], "staff": ["groups=staff"]}  # no auditor
    with override_settings(EDGECLAIMS=contrib_mapping(roles=roles)):
        errors = [m for m in check_settings() if m.id == "edgeclaims.E003"]
        assert [e.msg.split(" (")[0] for e in errors] == ["the view at 'open/any-role'"]
        assert "role 'auditor'" in errors[0].msg


def test_a_permission_name_the_policy_lacks_fails_at_first_use() -> None:
    permissions = {"admin": ["orders:read"], "staff": ["orders:read"]}  # no orders:write
    with override_settings(EDGECLAIMS=contrib_mapping(permissions=permissions)):
        ids = [m.id for m in check_settings() if m.id == "edgeclaims.E003"]
        assert ids == ["edgeclaims.E003", "edgeclaims.E003"]  # the decorator and the mixin
        headers = privilege_headers(
            Privilege("x", "/open/perm-write", ADMIN, ""), ORIGIN, load_config(contrib_mapping())
        )
        with pytest.raises(ConfigurationError, match="permission 'orders:write' not defined"):
            Client(raise_request_exception=True).get("/open/perm-write", headers=headers)
