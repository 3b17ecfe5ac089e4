"""IIS-shaped requests: wfastcgi's environ and handler names, HttpPlatformHandler's proxying.

wfastcgi does not import on Linux (``ctypes.windll``), so its rules are
re-implemented here from wfastcgi 3.0.0 (reference/iis.md): ``WSGI_HANDLER``
resolution, and an environ made of IIS server variables where
``HTTP_X_ORIGINAL_URL`` replaces ``PATH_INFO`` and ``SCRIPT_NAME`` is ``''``.
The samples run in a subprocess each, so Django's process-wide settings and
the samples' generic module names (``app``, ``main``) stay out of this one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from httpplatform_standin import HttpPlatformStandIn, http_sys_path
from servers import request

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
WFASTCGI_SAMPLES = ("flask_app", "django_site")


def resolve_wsgi_handler(name: str) -> Any:
    """wfastcgi 3.0.0's ``get_wsgi_handler``: longest importable module prefix, then attributes.

    A part ending in ``()`` is called. Only ImportError moves the split one
    dot to the left; an AttributeError surfaces as it is.
    """
    module_name, _, callable_name = name.rpartition(".")
    should_call = callable_name.endswith("()")
    names = [(callable_name.removesuffix("()"), should_call)]
    while module_name:
        try:
            handler: Any = __import__(module_name, fromlist=[names[0][0]])
        except ImportError:
            module_name, _, callable_name = module_name.rpartition(".")
            names.insert(0, (callable_name.removesuffix("()"), callable_name.endswith("()")))
            continue
        for attribute, call in names:
            handler = getattr(handler, attribute)
            if call:
                handler = handler()
        return handler
    raise ValueError(f"{name!r} could not be imported")


def wfastcgi_environ(
    method: str,
    url: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    *,
    remote_addr: str = "192.0.2.10",
) -> dict[str, str]:
    """The string part of the environ wfastcgi hands the app for this request.

    IIS's server variables (``UNENCODED_URL`` raw, ``PATH_INFO``/``URL``
    decoded, ``HTTPS``, ``REMOTE_ADDR``…) plus every header as ``HTTP_*``;
    then wfastcgi's own rewrite: ``HTTP_X_ORIGINAL_URL``, when present,
    replaces ``PATH_INFO`` and ``QUERY_STRING``; ``SCRIPT_NAME`` is ``''``.
    """
    parts = urlsplit(url)
    raw_path = parts.path or "/"
    decoded = unquote_to_bytes(raw_path).decode("latin-1")  # PEP 3333 bytes-as-latin-1
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    environ = {
        "REQUEST_METHOD": method,
        "UNENCODED_URL": raw_path + (f"?{parts.query}" if parts.query else ""),
        "URL": decoded,
        "PATH_INFO": decoded,
        "PATH_TRANSLATED": "C:\\inetpub\\site" + decoded.replace("/", "\\"),
        "QUERY_STRING": parts.query,
        "SCRIPT_NAME": decoded,  # IIS's value; wfastcgi overwrites it below
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_SOFTWARE": "Microsoft-IIS/10.0",
        "HTTPS": "on" if parts.scheme == "https" else "off",
        "REMOTE_ADDR": remote_addr,
        "REMOTE_HOST": remote_addr,
        "REMOTE_PORT": "50123",
        "APPL_MD_PATH": "/LM/W3SVC/1/ROOT",
        "APPL_PHYSICAL_PATH": "C:\\inetpub\\site\\",
        "INSTANCE_ID": "1",
        "CONTENT_LENGTH": "0",
        "HTTP_HOST": parts.netloc,
    }
    for name, value in pairs:
        # wfastcgi keeps the last FastCGI parameter of a name.
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    # wfastcgi 3.0.0, handle_response(): the rewrite reference/iis.md warns about.
    original_path, _, original_query = environ.get("HTTP_X_ORIGINAL_URL", "").partition("?")
    if original_path:
        environ["PATH_INFO"] = original_path
        environ["QUERY_STRING"] = original_query
    environ["SCRIPT_NAME"] = ""
    return environ


def app_settings(web_config: Path) -> dict[str, str]:
    root = ET.parse(web_config).getroot()
    return {e.attrib["key"]: e.attrib["value"] for e in root.iterfind("appSettings/add")}


# Runs in the sample's folder, as wfastcgi would: appSettings → os.environ,
# PYTHONPATH on sys.path, resolve WSGI_HANDLER, then call it once per environ.
_RUNNER = textwrap.dedent(
    """
    import io, json, os, sys
    sys.path[:0] = [os.environ["EC_TESTS"], os.environ["PYTHONPATH"]]
    from test_iis_environ import resolve_wsgi_handler
    job = json.load(sys.stdin)
    handler = resolve_wsgi_handler(os.environ["WSGI_HANDLER"])
    results = []
    for strings in job["environs"]:
        environ = dict(strings)
        environ.update({
            "wsgi.version": (1, 0), "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "https" if environ.get("HTTPS") == "on" else "http",
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        })
        status = []
        body = b"".join(handler(environ, lambda s, h, e=None: status.append(s)))
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            document = {"raw": body.decode("latin-1")}
        results.append([int(status[0].split()[0]), document])
    print(json.dumps({"type": type(handler).__module__ + "." + type(handler).__qualname__,
                      "wsgi_app": type(getattr(handler, "wsgi_app", None)).__qualname__,
                      "results": results}))
    """
)


def run_under_wfastcgi(
    sample: str,
    config: Path,
    environs: list[dict[str, str]],
    web_config: str = "web.wfastcgi.config",
) -> dict[str, Any]:
    """Resolve the sample's WSGI_HANDLER and call it with these environs, in a subprocess."""
    folder = SAMPLES / sample
    settings = app_settings(folder / web_config)
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("EDGECLAIMS_CONFIG", "DJANGO_SETTINGS_MODULE")
        },
        **settings,
        # The web.config's Windows paths, as they map on this machine.
        "PYTHONPATH": str(folder),
        "EDGECLAIMS_CONFIG": str(config),
        "EC_TESTS": str(Path(__file__).resolve().parent),
    }
    env.pop("WSGI_LOG", None)
    completed = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps({"environs": environs}),
        capture_output=True,
        text=True,
        cwd=folder,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture
def sample_config(tmp_path: Path) -> Any:
    """A copy of a sample's edgeclaims.toml in tmp_path (its SQLite store lands there)."""

    def copy(sample: str) -> Path:
        target = tmp_path / sample / "edgeclaims.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((SAMPLES / sample / "edgeclaims.toml").read_text())
        return target

    return copy


# -- WSGI_HANDLER resolution --------------------------------------------------------


def test_resolution_follows_wfastcgi_rules() -> None:
    import collections
    import os.path

    assert resolve_wsgi_handler("os.path.join") is os.path.join
    assert isinstance(resolve_wsgi_handler("collections.OrderedDict()"), collections.OrderedDict)
    with pytest.raises(AttributeError):  # not retried as a shorter module: surfaces as is
        resolve_wsgi_handler("os.path.no_such_name")
    with pytest.raises(ValueError, match="could not be imported"):
        resolve_wsgi_handler("no_such_module.app")


@pytest.mark.parametrize("sample", WFASTCGI_SAMPLES)
def test_wsgi_handler_names_the_protected_app(sample: str, sample_config: Any) -> None:
    from edgeclaims.testing import EdgeSigner

    config = sample_config(sample)
    signer = EdgeSigner.for_config(str(config))
    url = "https://app.example.com/whoami"
    environs = [
        wfastcgi_environ("GET", "https://app.example.com/healthz", {}),
        wfastcgi_environ("GET", url, {}),
        wfastcgi_environ(
            "GET", url, signer.headers("GET", url, {"sub": "ada", "groups": ["viewers"]})
        ),
    ]
    outcome = run_under_wfastcgi(sample, config, environs)
    expected_type = {
        "flask_app": "flask.app.Flask",
        "django_site": "django.core.handlers.wsgi.WSGIHandler",
    }[sample]
    assert outcome["type"] == expected_type
    if sample == "flask_app":
        # EdgeClaims(app) wrapped app.wsgi_app: "app.app" is the protected object.
        assert outcome["wsgi_app"] == "_Verifier"
    (healthz, anonymous, signed) = outcome["results"]
    assert healthz == [200, {"status": "ok"}]
    assert anonymous[0] == 401
    assert anonymous[1]["code"] == "missing"
    assert signed[0] == 200
    assert signed[1]["sub"] == "ada"


def test_flask_handler_with_call_parentheses_is_the_classic_mistake(sample_config: Any) -> None:
    """``app.app()`` calls the Flask object with no arguments: wfastcgi fails at start-up."""
    config = sample_config("flask_app")
    folder = SAMPLES / "flask_app"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path[:0]=[sys.argv[1], '.'];"
            "from test_iis_environ import resolve_wsgi_handler; resolve_wsgi_handler('app.app()')",
            str(Path(__file__).resolve().parent),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "EDGECLAIMS_CONFIG": str(config),
        },
    )
    assert completed.returncode != 0
    assert "TypeError" in completed.stderr


# -- wfastcgi environ quirks -----------------------------------------------------------


@pytest.mark.parametrize("sample", WFASTCGI_SAMPLES)
def test_client_sent_x_original_url_cannot_reroute_a_signed_request(
    sample: str, sample_config: Any
) -> None:
    """wfastcgi swaps X-Original-URL into PATH_INFO: the signed /whoami must not serve /admin."""
    from edgeclaims.testing import EdgeSigner

    config = sample_config(sample)
    signer = EdgeSigner.for_config(str(config))
    url = "https://app.example.com/whoami"
    headers = signer.headers("GET", url, {"sub": "eve", "groups": ["admins"]})
    environ = wfastcgi_environ("GET", url, {**headers, "X-Original-URL": "/admin"})
    assert environ["PATH_INFO"] == "/admin"
    assert environ["SCRIPT_NAME"] == ""
    ((status, body),) = run_under_wfastcgi(sample, config, [environ])["results"]
    assert (status, body["code"]) == (401, "binding_mismatch")


def test_headers_cleared_by_url_rewrite_count_as_missing(sample_config: Any) -> None:
    """The optional URL Rewrite rule sets the identity variables to '': anonymous, not an error."""
    config = sample_config("flask_app")
    cleared = {"X-Edge-Claims": "", "Signature": "", "Signature-Input": ""}
    environs = [
        wfastcgi_environ("GET", "https://app.example.com/healthz", cleared),
        wfastcgi_environ("GET", "https://app.example.com/whoami", cleared),
    ]
    healthz, whoami = run_under_wfastcgi("flask_app", config, environs)["results"]
    assert healthz[0] == 200
    assert (whoami[0], whoami[1]["code"]) == (401, "missing")


def test_unencoded_url_is_the_signed_path(sample_config: Any) -> None:
    """IIS's UNENCODED_URL keeps the client's encoding; PATH_INFO is decoded."""
    environ = wfastcgi_environ("GET", "https://app.example.com/who%61mi?x=%41", {})
    assert (environ["UNENCODED_URL"], environ["PATH_INFO"]) == ("/who%61mi?x=%41", "/whoami")
    assert environ["QUERY_STRING"] == "x=%41"


# -- HttpPlatformHandler -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "forwarded"),
    [
        ("/whoami", "/whoami"),
        ("/who%61mi", "/whoami"),
        ("/a%2Fb", "/a/b"),
        ("/a/./b/../c", "/a/c"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/a%20b", "/a%20b"),
    ],
    ids=["plain", "unreserved", "encoded-slash", "dot-segments", "utf8", "space"],
)
def test_http_sys_decodes_the_path(raw: str, forwarded: str) -> None:
    assert http_sys_path(raw) == forwarded


_ECHO = """
import json
def app(environ, start_response):
    body = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
"""


def test_standin_proxies_like_http_platform_handler(tmp_path: Path) -> None:
    (tmp_path / "echo.py").write_text(_ECHO)
    config = (SAMPLES / "flask_app" / "web.config").read_text().replace(" app:app", " echo:app")
    (tmp_path / "web.config").write_text(config)
    with HttpPlatformStandIn(
        tmp_path / "web.config",
        log_dir=tmp_path / "logs",
        env_overrides={"PYTHONPATH": str(tmp_path), "EDGECLAIMS_CONFIG": ""},
    ) as standin:
        host = f"127.0.0.1:{standin.port}"
        status, environ = request(
            standin.port,
            "GET",
            "/who%61mi?q=%41",
            [("X-Forwarded-For", "203.0.113.9"), ("X_Edge_Claims", "underscored")],
            host=host,
        )
    assert status == 200
    assert environ["PATH_INFO"] == "/whoami"
    assert environ["QUERY_STRING"] == "q=%41"
    assert environ["HTTP_HOST"] == host
    # The stand-in appended "peer:port"; waitress (trusted proxy 127.0.0.1, one hop) took
    # that right-most entry, never the client's own 203.0.113.9.
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] != ""
    # HttpPlatformHandler passes underscore headers on; waitress drops them.
    assert "HTTP_X_EDGE_CLAIMS" not in environ
