"""The request view: raw paths, IIS-shaped environs, ambiguous headers."""

from __future__ import annotations

from typing import Any

import pytest

from edgeclaims.errors import AmbiguousHeader
from edgeclaims.request import RequestView, normalize_path
from edgeclaims.testing import build_asgi_scope


def wfastcgi_environ(**changes: Any) -> dict[str, Any]:
    """An environ as wfastcgi passes IIS's server variables (SCRIPT_NAME forced empty)."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/files/a/b c",
        "QUERY_STRING": "x=1",
        "UNENCODED_URL": "/files/a%2Fb%20c?x=1",
        "HTTP_HOST": "App.Example.com:443",
        "HTTPS": "on",
        "wsgi.url_scheme": "https",
        "REMOTE_ADDR": "203.0.113.7",
        "SERVER_NAME": "app.example.com",
        "SERVER_PORT": "443",
    }
    environ.update(changes)
    return environ


def test_wfastcgi_raw_url_is_the_signed_path() -> None:
    view = RequestView.from_wsgi(wfastcgi_environ())
    assert view.raw_path == "/files/a%2Fb%20c"
    assert view.raw_query == "x=1"
    assert view.authority == "app.example.com"
    assert view.route_path == "/files/a/b c"
    assert view.problem is None
    assert view.query_for_signature() == "?x=1"


def test_x_original_url_swapped_into_path_info_is_a_binding_mismatch() -> None:
    # A client sends X-Original-URL: /admin to /healthz; wfastcgi routes on /admin.
    environ = wfastcgi_environ(
        UNENCODED_URL="/healthz", PATH_INFO="/admin", QUERY_STRING="", HTTP_X_ORIGINAL_URL="/admin"
    )
    view = RequestView.from_wsgi(environ)
    assert view.problem.code == "binding_mismatch"
    assert view.route_path == "/admin"


def test_x_original_url_naming_the_same_path_is_fine() -> None:
    environ = wfastcgi_environ(HTTP_X_ORIGINAL_URL="/files/a%2Fb%20c?x=1")
    assert RequestView.from_wsgi(environ).problem is None


def test_trusted_original_url_is_the_signed_path() -> None:
    environ = wfastcgi_environ(
        UNENCODED_URL="/app.py", PATH_INFO="/orders/7", HTTP_X_ORIGINAL_URL="/orders/7?full=1"
    )
    view = RequestView.from_wsgi(environ, trust_original_url=True)
    assert (view.raw_path, view.raw_query, view.problem) == ("/orders/7", "full=1", None)


def test_httpplatformhandler_decoded_path_is_reencoded() -> None:
    # waitress behind HttpPlatformHandler: no raw URI, PATH_INFO already decoded.
    environ = wfastcgi_environ()
    del environ["UNENCODED_URL"]
    environ["HTTP_X_FORWARDED_FOR"] = "198.51.100.1, 127.0.0.1:51234"
    view = RequestView.from_wsgi(environ)
    assert view.raw_path == "/files/a/b%20c"
    assert view.path_for_signature("normalized") == "/files/a/b%20c"
    assert view.problem is None


def test_no_query_is_a_lone_question_mark() -> None:
    view = RequestView.from_wsgi(
        wfastcgi_environ(UNENCODED_URL="/files/a%2Fb%20c", QUERY_STRING="")
    )
    assert view.raw_query is None
    assert view.query_for_signature() == "?"


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/a%2fb", "/a/b"),  # decoded first: HttpPlatformHandler cannot tell them apart
        ("/%7Euser/x%20y", "/~user/x%20y"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/café", "/caf%C3%A9"),
        ("/a+b(c)", "/a%2Bb%28c%29"),
    ],
)
def test_normalized_path_form(raw: str, normalized: str) -> None:
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize(
    ("host", "scheme", "authority"),
    [
        ("Example.COM:443", "https", "example.com"),
        ("example.com:80", "http", "example.com"),
        ("example.com:8443", "https", "example.com:8443"),
        ("[::1]:443", "https", "[::1]"),
        ("[::1]", "https", "[::1]"),
    ],
)
def test_authority(host: str, scheme: str, authority: str) -> None:
    environ = wfastcgi_environ(HTTP_HOST=host)
    environ["wsgi.url_scheme"] = scheme
    assert RequestView.from_wsgi(environ).authority == authority


def test_asgi_raw_path_and_headers() -> None:
    scope = build_asgi_scope("GET", "https://app.example.com/a%2Fb?q=1", [("X-Edge-Claims", "abc")])
    view = RequestView.from_asgi(scope)
    assert (view.raw_path, view.raw_query, view.route_path) == ("/a%2Fb", "q=1", "/a/b")
    assert view.header("x-edge-claims") == "abc"
    assert view.problem is None


def test_asgi_raw_path_disagreeing_with_path_is_a_binding_mismatch() -> None:
    scope = build_asgi_scope("GET", "https://app.example.com/public", [])
    scope["path"] = "/admin"
    assert RequestView.from_asgi(scope).problem.code == "binding_mismatch"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([("x-edge-claims", "a"), ("x-edge-claims", "b")], id="two-lines"),
        pytest.param([("x-edge-claims", "a"), ("x_edge_claims", "b")], id="underscore-twin"),
        pytest.param([("x_edge_claims", "b")], id="underscore-only"),
        pytest.param([("x-edge_claims", "b")], id="mixed-spelling"),
    ],
)
def test_ambiguous_identity_headers(headers: list[tuple[str, str]]) -> None:
    view = RequestView.from_asgi(build_asgi_scope("GET", "https://a.example/", headers))
    assert view.present(["x-edge-claims"])
    with pytest.raises(AmbiguousHeader):
        view.header("x-edge-claims")


def test_empty_identity_header_counts_as_missing() -> None:
    view = RequestView.from_asgi(
        build_asgi_scope("GET", "https://a.example/", [("X-Edge-Claims", " ")])
    )
    assert view.header("x-edge-claims") is None
    assert not view.present(["x-edge-claims"])
    environ = wfastcgi_environ(HTTP_X_EDGE_CLAIMS="")
    assert RequestView.from_wsgi(environ).header("x-edge-claims") is None


@pytest.mark.parametrize(
    ("root_path", "path", "raw_path", "whole"),
    [
        pytest.param("/app", "/app/admin", "/app/admin", "/app/admin", id="path-holds-root"),
        pytest.param("/app", "/admin", "/admin", "/app/admin", id="path-relative-to-root"),
        pytest.param("/app", "/app", "/app", "/app", id="root-itself"),
        pytest.param(
            "/app", "/application", "/application", "/app/application", id="not-a-boundary"
        ),
        pytest.param("", "/admin", "/admin", "/admin", id="no-root"),
    ],
)
def test_asgi_route_path_is_the_whole_path_once(
    root_path: str, path: str, raw_path: str, whole: str
) -> None:
    """uvicorn --root-path and FastAPI(root_path=...) already put root_path in path."""
    scope = build_asgi_scope("GET", f"https://app.example.com{raw_path}", [])
    scope.update(root_path=root_path, path=path)
    view = RequestView.from_asgi(scope)
    assert view.route_path == whole
    assert view.problem is None


def test_asgi_two_host_lines_are_ambiguous() -> None:
    scope = build_asgi_scope(
        "GET", "https://app.example.com/", [("Host", "app.example.com"), ("Host", "evil.example")]
    )
    assert RequestView.from_asgi(scope).problem.code == "ambiguous"


def test_wsgi_joined_host_lines_are_ambiguous() -> None:
    environ = wfastcgi_environ(HTTP_HOST="app.example.com, evil.example")
    assert RequestView.from_wsgi(environ).problem.code == "ambiguous"


def test_asgi_absolute_form_target_is_refused_like_wsgi() -> None:
    scope = build_asgi_scope("GET", "https://app.example.com/admin", [])
    scope["raw_path"] = b"http://app.example.com/admin"
    assert RequestView.from_asgi(scope).problem.code == "binding_mismatch"
    environ = wfastcgi_environ(UNENCODED_URL="http://app.example.com/admin", PATH_INFO="/admin")
    assert RequestView.from_wsgi(environ).problem.code == "binding_mismatch"
