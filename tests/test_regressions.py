"""One test per known attack or finding, named after it (STYLE.md).

Issue #11 ("Authorization that no path, method or server quirk can walk
around") numbers its findings 1–12. Findings 1–5, 8, 10 and 12 are here;
the others sit beside the fixtures they need:

* 6 — tests/test_regressions_django.py (a configured Django):
  ``test_django_backend_fullwidth_subject_does_not_log_in_as_admin``;
* 7 and 9 — tests/test_regressions_keys.py (the misbehaving JWKS servers of
  test_jwks.py): ``test_jwks_fault_that_is_not_oserror_serves_stale_keys_or_503``,
  ``test_config_repr_hides_redis_password``,
  ``test_secret_with_unknown_prefix_is_not_echoed``;
* 11 — tests/test_regressions_replay.py (every store, Redis included):
  ``test_replayed_nonce_at_the_last_valid_instant_is_refused``.

The broader suites are tests/test_routing_differential.py (every spelling
against the real routers and servers) and tests/test_never_500.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from tables import ADMIN, NOW, ORIGIN, VIEWER, config_mapping, signed

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config import load_config
from edgeclaims.engine import Engine
from edgeclaims.logs import JSONFormatter
from edgeclaims.request import RequestView
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

CONFIG = load_config(
    config_mapping(
        replay={"store": "off"},
        routes={
            "/admin/*": ["admin"],
            "POST /orders/*": ["admin"],
            "GET /reports/*": ["admin"],
            "/healthz": "public",
        },
    )
)


def _flask_app() -> tuple[Flask, list[str]]:
    """Flask with a catch-all under the protected prefix, and no role check of its own."""
    app = Flask("regressions")
    reached: list[str] = []

    @app.route("/admin/<path:rest>", methods=["GET", "POST", "HEAD"])
    def admin_anything(rest: str) -> str:
        reached.append(rest)
        return "protected"

    @app.route("/orders/<int:number>", methods=["GET", "POST"])
    def orders(number: int) -> str:
        reached.append(f"orders {number}")
        return "order"

    @app.route("/reports/<name>", methods=["GET"])
    def reports(name: str) -> str:
        reached.append(f"report {name}")
        return "report"

    @app.route("/healthz")
    def healthz() -> str:
        return "ok"

    app.wsgi_app = WSGIMiddleware(app.wsgi_app, CONFIG, clock=lambda: NOW)  # type: ignore[method-assign]
    return app, reached


def _wsgi(app: Flask, method: str, path: str, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """One request through the wrapped app, with the environ a WSGI server builds."""
    environ = build_wsgi_environ(method, ORIGIN + path, dict(headers))
    status: list[str] = []

    def start_response(line: str, _headers: Any, _exc: Any = None) -> None:
        status.append(line)

    body = b"".join(app(environ, start_response))
    return int(status[0].split()[0]), body


def _decide_asgi(scope: dict[str, Any], config: Any = CONFIG) -> Any:
    return Engine(config, clock=lambda: NOW).decide(RequestView.from_asgi(scope))


# -- 1. dot segments -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/admin/../healthz", "/admin/%2e%2e/healthz", "/admin/%2E%2E/healthz", "/admin/..%2fhealthz"],
)
@pytest.mark.parametrize("who", ["anonymous", "viewer"])
def test_dot_segments_do_not_make_a_protected_catch_all_public(path: str, who: str) -> None:
    """``GET /admin/../healthz`` was judged public; Flask's ``/admin/<path:rest>`` served it."""
    app, reached = _flask_app()
    headers = [] if who == "anonymous" else signed(path=path, claims=VIEWER)
    status, _ = _wsgi(app, "GET", path, headers)
    assert (status, reached) == (400, [])


# -- 2. empty segments -----------------------------------------------------------


@pytest.mark.parametrize("path", ["//admin/x", "/admin//x", "/admin%2f%2fx"])
def test_empty_segments_are_refused(path: str) -> None:
    """``//admin`` fell to ``/*`` for the policy while Werkzeug merged slashes into /admin."""
    app, reached = _flask_app()
    status, body = _wsgi(app, "GET", path, signed(path=path, claims=VIEWER))
    assert (status, reached) == (400, [])
    assert b'"ambiguous_request"' in body


# -- 3. ASGI root_path counted twice ----------------------------------------------


def test_asgi_root_path_is_not_counted_twice() -> None:
    """uvicorn --root-path puts root_path in ``path``; the policy saw /app/app/admin."""
    config = load_config(
        config_mapping(replay={"store": "off"}, routes={"/app/admin/*": ["admin"]})
    )
    scope = build_asgi_scope(
        "GET", ORIGIN + "/app/admin/users", signed(path="/app/admin/users", claims=VIEWER)
    )
    scope["root_path"] = "/app"  # path keeps its /app prefix, as uvicorn sends it
    assert _decide_asgi(scope, config).code == "forbidden"
    scope = build_asgi_scope(
        "GET", ORIGIN + "/app/admin/users", signed(path="/app/admin/users", claims=ADMIN)
    )
    scope["root_path"] = "/app"
    assert _decide_asgi(scope, config).allowed


@pytest.mark.parametrize("rule", ["/admin/*", "/app/admin/*"])
def test_asgi_root_path_outside_path_is_judged_by_both_readings(rule: str) -> None:
    """hypercorn --root-path leaves root_path out of ``path``; a rule on either path holds."""
    config = load_config(config_mapping(replay={"store": "off"}, routes={rule: ["admin"]}))
    for claims, code in ((VIEWER, "forbidden"), (ADMIN, None)):
        scope = build_asgi_scope(
            "GET", ORIGIN + "/admin/users", signed(path="/admin/users", claims=claims)
        )
        scope["root_path"] = "/app"  # path stays /admin/users, as hypercorn sends it
        assert _decide_asgi(scope, config).code == code


def test_wsgi_script_name_mount_is_judged_by_both_readings() -> None:
    """A WSGI mount (SCRIPT_NAME=/app): Werkzeug routes on PATH_INFO, the edge saw /app/…."""
    config = load_config(config_mapping(replay={"store": "off"}, routes={"/admin/*": ["admin"]}))
    environ = build_wsgi_environ(
        "GET", ORIGIN + "/app/admin/users", dict(signed(path="/app/admin/users", claims=VIEWER))
    )
    environ.update(SCRIPT_NAME="/app", PATH_INFO="/admin/users")
    assert Engine(config, clock=lambda: NOW).decide(RequestView.from_wsgi(environ)).code == (
        "forbidden"
    )


# -- 4. method case -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "Post", "pOST"])
def test_lower_case_method_cannot_skip_a_post_rule(method: str) -> None:
    """Werkzeug upper-cases ``post`` and runs the POST view the ``POST /orders/*`` rule guards."""
    app, reached = _flask_app()
    status, _ = _wsgi(app, method, "/orders/1", signed("POST", path="/orders/1", claims=VIEWER))
    assert (status, reached) == (400, [])
    scope = build_asgi_scope(method, ORIGIN + "/orders/1", signed("POST", path="/orders/1"))
    assert _decide_asgi(scope).code == "ambiguous_request"


# -- 5. HEAD ------------------------------------------------------------------------


def test_head_is_covered_by_a_get_rule() -> None:
    """Every framework runs the GET view for HEAD; ``GET /reports/*`` must cover it."""
    app, reached = _flask_app()
    status, _ = _wsgi(app, "HEAD", "/reports/q3", signed("HEAD", path="/reports/q3", claims=VIEWER))
    assert (status, reached) == (403, [])
    status, _ = _wsgi(app, "HEAD", "/reports/q3", signed("HEAD", path="/reports/q3", claims=ADMIN))
    assert (status, reached) == (200, ["report q3"])


# -- 8. two Host lines --------------------------------------------------------------


def test_two_host_lines_are_ambiguous() -> None:
    """uvicorn with httptools passes both; @authority bound the last, Starlette used the first."""
    headers = [("Host", "evil.example"), ("Host", "app.example.com"), *signed()]
    assert _decide_asgi(build_asgi_scope("GET", ORIGIN + "/whoami", headers)).code == "ambiguous"


# -- 10. log injection -----------------------------------------------------------------


@pytest.fixture
def text_log() -> Iterator[list[str]]:
    """The decision log as the default text formatter and the JSON formatter write it."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter("%(levelname)s %(message)s").format(record))
            lines.append(JSONFormatter().format(record))

    logger = logging.getLogger("edgeclaims")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_log_line_cannot_be_forged_by_path_or_subject(text_log: list[str]) -> None:
    """A ``%0A`` in the path (even unauthenticated) or the subject forged an "accepted" record."""
    forged = "/x%0AINFO edgeclaims accepted code=None subject=root path=/admin"
    engine = Engine(CONFIG, clock=lambda: NOW)
    engine.decide(RequestView.from_asgi(build_asgi_scope("GET", ORIGIN + forged, [])))
    # Control characters in a subject are refused (incomplete_claims); a
    # Unicode line separator is not one, and some log viewers break on it.
    subject = "alice\u2028INFO edgeclaims accepted subject=root"
    engine.decide(
        RequestView.from_asgi(
            build_asgi_scope("GET", ORIGIN + "/whoami", signed(claims={"sub": subject}))
        )
    )
    assert len(text_log) == 4
    assert all("\n" not in line and "\r" not in line for line in text_log)
    assert "path=/x\\nINFO edgeclaims accepted" in text_log[0]
    assert "subject=alice\\u2028INFO" in text_log[2]
    assert "\u2028" not in text_log[2]


# -- 12. absolute-form target ------------------------------------------------------------


def test_asgi_absolute_form_target_is_refused() -> None:
    """ASGI accepted ``GET http://host/admin`` as @path while WSGI refused it."""
    scope = build_asgi_scope("GET", ORIGIN + "/whoami", signed())
    scope["raw_path"] = b"https://app.example.com/whoami"
    assert _decide_asgi(scope).code == "binding_mismatch"
    environ = build_wsgi_environ("GET", ORIGIN + "/whoami", dict(signed()))
    environ["REQUEST_URI"] = "https://app.example.com/whoami"
    assert Engine(CONFIG, clock=lambda: NOW).decide(RequestView.from_wsgi(environ)).code == (
        "binding_mismatch"
    )
    # Through the ASGI middleware: the app never runs.
    ran: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ran.append(True)

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    asyncio.run(ASGIMiddleware(app, CONFIG, clock=lambda: NOW)(scope, receive, send))
    assert (ran, sent[0]["status"]) == ([], 401)
