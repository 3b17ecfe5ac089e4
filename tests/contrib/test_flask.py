"""Flask: the shared tables through Flask's test client, and the extension's behaviour."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from contrib_tables import (
    CONTRIB_CONFIG,
    Privilege,
    contrib_mapping,
    describe,
    engine_code,
    framework,
    privilege_headers,
    verdict,
)

flask = framework("flask")

from flask import Flask, request  # noqa: E402
from tables import HMAC_SECRET, NOW, Case, signed  # noqa: E402

from edgeclaims.config import Config, load_config  # noqa: E402
from edgeclaims.contrib.flask import (  # noqa: E402
    EdgeClaims,
    IdentityRefused,
    current_identity,
    get_identity,
    identity_required,
    permissions_required,
    roles_required,
)
from edgeclaims.errors import ConfigurationError  # noqa: E402
from edgeclaims.identity import Identity  # noqa: E402
from edgeclaims.wsgi import EdgeClaimsMiddleware  # noqa: E402

ORIGIN = "http://localhost"


def echo() -> dict[str, Any]:
    return describe(current_identity, list(request.headers.keys()))


def make_app(config: Config | dict[str, object] | None = CONTRIB_CONFIG) -> Flask:
    app = Flask(__name__)
    if config is not None:
        app.config["EDGECLAIMS"] = config
    EdgeClaims(app, clock=lambda: NOW)
    add_views(app)
    return app


def add_views(app: Flask) -> None:
    @app.get("/open/roles-admin")
    @roles_required("admin")
    def roles_admin() -> dict[str, Any]:
        return echo()

    @app.get("/open/any-role")
    @roles_required("admin", "auditor", match="any")
    def any_role() -> dict[str, Any]:
        return echo()

    @app.get("/open/perm-read")
    @permissions_required("orders:read")
    def perm_read() -> dict[str, Any]:
        return echo()

    @app.get("/open/perm-write")
    @permissions_required("orders:write")
    def perm_write() -> dict[str, Any]:
        return echo()

    @app.get("/open/identity")
    @identity_required
    def identity() -> dict[str, Any]:
        return echo()

    @app.get("/open/async-admin")
    @roles_required("admin")
    async def async_admin() -> dict[str, Any]:
        return echo()

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def catch_all(path: str) -> dict[str, Any]:
        return echo()


def send(app: Flask, case: Case) -> tuple[int, dict[str, Any]]:
    response = app.test_client().open(case.url, method=case.method, headers=case.headers)
    return response.status_code, response.get_json(force=True)


# -- the shared tables ---------------------------------------------------------


def test_table(table_case: Case) -> None:
    table_case.skip_for("wsgi", "no-body")
    status, body = send(make_app(), table_case)
    assert verdict(status, body) == engine_code(table_case) == table_case.expect


def test_privileges(privilege_case: Privilege) -> None:
    app = make_app()
    response = app.test_client().get(
        privilege_case.path, headers=privilege_headers(privilege_case, ORIGIN)
    )
    assert verdict(response.status_code, response.get_json(force=True)) == privilege_case.expect
    if privilege_case.expect != "ok":
        assert response.content_type == "application/problem+json"


def test_async_view_behind_a_decorator() -> None:
    app = make_app()
    admin = Privilege("admin", "/open/async-admin", {"sub": "root", "groups": ["okta-admins"]}, "")
    viewer = Privilege("viewer", "/open/async-admin", {"sub": "alice"}, "")
    client = app.test_client()
    assert client.get(admin.path, headers=privilege_headers(admin, ORIGIN)).json["sub"] == "root"
    refused = client.get(viewer.path, headers=privilege_headers(viewer, ORIGIN))
    assert (refused.status_code, refused.json["code"]) == (403, "forbidden")


# -- errors through Flask's error handling --------------------------------------

TAMPERED = Case("t", "GET", "https://app.example.com/whoami?admin=1", signed(), "bad_signature")


def test_refusals_go_through_flask_error_handlers() -> None:
    app = make_app()
    seen: list[str] = []

    @app.errorhandler(401)
    def unauthorized(error: IdentityRefused) -> tuple[str, int]:
        seen.append(error.error.code)
        return "please sign in at the edge", 401

    response = app.test_client().get(TAMPERED.url, headers=TAMPERED.headers)
    assert (response.status_code, response.text) == (401, "please sign in at the edge")
    assert seen == ["bad_signature"]


def test_one_handler_for_every_refusal() -> None:
    app = make_app()

    @app.errorhandler(IdentityRefused)
    def refused(error: IdentityRefused) -> tuple[dict[str, str], int]:
        return {"why": error.error.code}, error.error.status

    client = app.test_client()
    assert client.get("/whoami").json == {"why": "missing"}
    viewer = Privilege("viewer", "/open/roles-admin", {"sub": "alice"}, "")
    response = client.get(viewer.path, headers=privilege_headers(viewer, ORIGIN))
    assert (response.status_code, response.json) == (403, {"why": "forbidden"})


def test_a_refused_request_runs_none_of_the_apps_before_request_functions() -> None:
    app = Flask(__name__)
    app.config["EDGECLAIMS"] = CONTRIB_CONFIG
    ran: list[str] = []
    app.before_request(lambda: ran.append("app hook") and None)
    EdgeClaims(app, clock=lambda: NOW)
    add_views(app)
    response = app.test_client().get(TAMPERED.url, headers=TAMPERED.headers)
    assert response.status_code == 401
    assert ran == []
    # An unknown route is refused the same way, before routing.
    assert app.test_client().get("/nowhere").json["code"] == "missing"


def test_view_refusals_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = make_app()
    viewer = Privilege("viewer", "/open/roles-admin", {"sub": "alice", "email": "a@x"}, "")
    with caplog.at_level(logging.INFO, logger="edgeclaims"):
        app.test_client().get(viewer.path, headers=privilege_headers(viewer, ORIGIN))
    records = [r.edgeclaims for r in caplog.records]  # type: ignore[attr-defined]
    assert [r["outcome"] for r in records] == ["accepted", "refused"]
    assert records[1]["stage"] == "view"
    assert records[1]["subject"] == "alice"
    assert "a@x" not in caplog.text


# -- set-up --------------------------------------------------------------------


def _toml(tmp_path: Path) -> Path:
    path = tmp_path / "edgeclaims.toml"
    path.write_text(
        "[edgeclaims]\n"
        'public_paths = ["/healthz"]\n'
        "[[edgeclaims.sources]]\n"
        'type = "rfc9421"\n'
        f'keys = [{{ id = "2026-11", alg = "hmac-sha256", secret = "hex:{HMAC_SECRET.hex()}" }}]\n'
        "[edgeclaims.replay]\n"
        'store = "off"\n'
    )
    return path


def test_config_falls_back_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGECLAIMS_CONFIG", str(_toml(tmp_path)))
    app = make_app(config=None)
    status, body = send(app, Case("ok", "GET", "https://app.example.com/whoami", signed(), "ok"))
    assert (status, body["sub"]) == (200, "alice")


def test_config_errors_are_raised_by_init_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGECLAIMS_CONFIG", raising=False)
    with pytest.raises(ConfigurationError, match="EDGECLAIMS_CONFIG"):
        EdgeClaims(Flask(__name__))
    app = Flask(__name__)
    app.config["EDGECLAIMS"] = contrib_mapping(mode="sometimes")
    with pytest.raises(ConfigurationError, match="mode"):
        EdgeClaims(app)


def test_init_app_serves_an_app_factory() -> None:
    extension = EdgeClaims(config=CONTRIB_CONFIG, clock=lambda: NOW)
    apps = [Flask("one"), Flask("two")]
    for app in apps:
        extension.init_app(app)
        add_views(app)
    engines = [app.extensions["edgeclaims"] for app in apps]
    assert engines[0] is not engines[1]
    with pytest.raises(ConfigurationError, match="already"):
        extension.init_app(apps[0])


def test_current_identity_without_the_extension_is_a_loud_error() -> None:
    app = Flask(__name__)
    app.testing = True
    add_views(app)
    with pytest.raises(ConfigurationError, match=r"EdgeClaims\(app\)"):
        app.test_client().get("/whoami")


def test_get_identity_is_the_identity_itself() -> None:
    """Not a proxy: the engine's Identity, the one current_identity stands for; None if anonymous."""
    app = make_app()
    seen: list[tuple[object, object]] = []

    @app.get("/open/taken-once")
    @identity_required
    def taken_once() -> dict[str, Any]:
        seen.append((get_identity(), current_identity._get_current_object()))  # type: ignore[union-attr]
        return echo()

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        seen.append((get_identity(), None))
        return echo()

    url = "https://app.example.com/open/taken-once"
    case = Case("ok", "GET", url, signed(path="/open/taken-once"), "ok")
    status, body = send(app, case)
    assert status == 200, body
    identity, proxied = seen[0]
    assert type(identity) is Identity
    assert identity is proxied
    assert body["sub"]
    assert identity.subject == body["sub"]
    anonymous = Case("anon", "GET", f"{ORIGIN}/healthz", {}, "ok")
    assert send(app, anonymous)[0] == 200
    assert seen[1] == (None, None)
    with app.test_request_context("/"), pytest.raises(ConfigurationError):
        get_identity()  # a request edgeclaims did not decide: loud, never None


def test_outer_wsgi_middleware_decides_once() -> None:
    """With edgeclaims.wsgi in front too, nothing is verified twice (no false replay)."""
    config = load_config(contrib_mapping())  # memory replay store
    app = make_app(config)
    app.wsgi_app = EdgeClaimsMiddleware(app.wsgi_app, config, clock=lambda: NOW)  # type: ignore[method-assign]
    case = Case("ok", "GET", "https://app.example.com/whoami", signed(nonce="outer"), "ok")
    assert send(app, case)[1]["sub"] == "alice"
    assert send(app, case)[1]["code"] == "replayed"


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: roles_required(lambda: None), TypeError),  # type: ignore[arg-type]
        (lambda: roles_required("admin", match="most"), ValueError),
        (lambda: permissions_required(""), TypeError),
    ],
    ids=["no-parentheses", "bad-match", "empty-name"],
)
def test_decorator_misuse_fails_at_import_time(build: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()


def test_problem_body_matches_the_wsgi_middleware() -> None:
    refused = make_app().test_client().get("/whoami")
    assert refused.headers["Cache-Control"] == "no-store"
    assert json.loads(refused.data) == {
        "type": "https://edgeclaims.dev/errors/missing",
        "title": "No identity header",
        "status": 401,
        "code": "missing",
    }


@pytest.mark.parametrize(
    ("path", "headers", "status", "challenge"),
    [
        pytest.param("/whoami", [], 401, 'EdgeClaims realm="edgeclaims"', id="missing"),
        pytest.param(
            "/whoami",
            [(n, v + "x" if n == "Signature" else v) for n, v in signed()],
            401,
            'EdgeClaims realm="edgeclaims", error="malformed"',
            id="refused",
        ),
        pytest.param("/admin/users", signed(path="/admin/users"), 403, None, id="forbidden"),
    ],
)
def test_refusals_carry_the_challenge_rfc_9110_requires(
    path: str, headers: list[tuple[str, str]], status: int, challenge: str | None
) -> None:
    response = make_app().test_client().get("https://app.example.com" + path, headers=headers)
    assert response.status_code == status
    assert response.headers.get("WWW-Authenticate") == challenge


def test_a_role_name_the_policy_lacks_fails_loudly_at_first_use() -> None:
    """``roles_required("amdin")`` is a configuration error, not a silent 403 for everyone."""
    app = make_app()

    @app.get("/open/typo")
    @roles_required("amdin")
    def typo() -> str:
        return "never"

    app.testing = True  # exceptions propagate to the test client
    headers = signed(path="/open/typo", claims={"sub": "root", "groups": ["okta-admins"]})
    with pytest.raises(ConfigurationError, match="roles_required: role 'amdin' not defined"):
        app.test_client().get("https://app.example.com/open/typo", headers=headers)
