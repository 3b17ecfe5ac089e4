"""The Akamai G2O origin gate (``[edgeclaims.origin_gate]``, spec/providers.md).

Every ``akamai_g2o`` vector of providers.json (independent implementations,
recomputed) runs through the engine: the valid ones pass, the one whose MAC
covers the full URL instead of the path is refused. Each valid vector is
also refused with its signature flipped, truncated or empty, outside the
window either way, on another path, and when its version is not allowed.
Then the gate's place in the engine — before any source, on public paths
too, not on exempt paths, replay of the whole data header, its headers
removed — through the WSGI and ASGI middleware and Flask.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tables import HMAC_SECRET

from edgeclaims.asgi import EdgeClaimsMiddleware as ASGIMiddleware
from edgeclaims.config import config_warnings, load_config
from edgeclaims.engine import Engine, Outcome
from edgeclaims.errors import ConfigurationError
from edgeclaims.origin_gate import g2o_signature
from edgeclaims.request import RequestView
from edgeclaims.testing import EdgeSigner, build_asgi_scope, build_wsgi_environ
from edgeclaims.wsgi import EdgeClaimsMiddleware as WSGIMiddleware

VECTORS = json.loads((Path(__file__).parent / "vectors" / "providers.json").read_text())
G2O = VECTORS["akamai_g2o"]
VALID = [v for v in G2O if v.get("valid", True)]
INVALID = [v for v in G2O if not v.get("valid", True)]
ORIGIN = "https://origin.example.com"
SECRET = "k" * 24  # a G2O key as Akamai's UI shows it: plain text
NOW = 1_782_000_000


def _key_name(vector: dict[str, Any]) -> str:
    return str(vector["data"].split(", ")[5])


def _time(vector: dict[str, Any]) -> int:
    return int(vector["data"].split(", ")[3])


def _gate(**overrides: object) -> dict[str, object]:
    gate: dict[str, object] = {
        "type": "akamai-g2o",
        "keys": [{"id": "g2o-2026", "secret": f"utf8:{SECRET}"}],
    }
    gate.update(overrides)
    return gate


def _vector_config(vector: dict[str, Any], **gate: object) -> dict[str, object]:
    """Only the gate, every path public once through it: the gate decides alone."""
    settings: dict[str, object] = {
        "keys": [{"id": _key_name(vector), "secret": "utf8:" + vector["secret"]}],
        "versions": [vector["version"]],
        "allow_md5": vector["version"] in (1, 2),
    }
    settings.update(gate)
    return {"origin_gate": _gate(**settings), "public_paths": ["/*"], "replay": {"store": "off"}}


def _decide(
    config: dict[str, object], url: str, headers: dict[str, str], *, now: float = NOW
) -> Outcome:
    engine = Engine(config, clock=lambda: now)
    return engine.decide(RequestView.from_wsgi(build_wsgi_environ("GET", url, headers)))


def _g2o_headers(vector: dict[str, Any], signature: str | None = None) -> dict[str, str]:
    return {
        "X-Akamai-G2O-Auth-Data": vector["data"],
        "X-Akamai-G2O-Auth-Sign": vector["signature"] if signature is None else signature,
    }


def _code(outcome: Outcome) -> str | None:
    return outcome.refusal.code if outcome.refusal is not None else None


# -- the vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("vector", VALID, ids=lambda v: f"v{v['version']}-{v['signature'][:6]}")
def test_vector_passes(vector: dict[str, Any]) -> None:
    url = ORIGIN + vector["sign_string"]
    outcome = _decide(_vector_config(vector), url, _g2o_headers(vector), now=_time(vector))
    assert outcome.refusal is None, outcome.refusal
    assert outcome.identity is None  # the gate vouches for the edge, not for a user


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: f"v{v['version']}-invalid")
def test_invalid_vector_is_refused(vector: dict[str, Any]) -> None:
    url = ORIGIN + vector["sign_string"]
    outcome = _decide(_vector_config(vector), url, _g2o_headers(vector), now=_time(vector))
    assert _code(outcome) == "bad_signature"


def _flipped(signature: str) -> str:
    raw = bytearray(base64.b64decode(signature))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _truncated(signature: str) -> str:
    return base64.b64encode(base64.b64decode(signature)[:8]).decode()


@pytest.mark.parametrize("vector", VALID, ids=lambda v: f"v{v['version']}-{v['signature'][:6]}")
@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param(
            lambda v: {"signature": _flipped(v["signature"])}, "bad_signature", id="flipped"
        ),
        pytest.param(
            lambda v: {"signature": _truncated(v["signature"])}, "bad_signature", id="truncated"
        ),
        pytest.param(lambda v: {"signature": v["signature"][:-4]}, "bad_signature", id="cut-text"),
        pytest.param(lambda v: {"signature": "AAAA"}, "bad_signature", id="short"),
        pytest.param(lambda v: {"signature": ""}, "missing", id="empty"),
        pytest.param(lambda v: {"now": _time(v) + 31}, "expired", id="after-window"),
        pytest.param(lambda v: {"now": _time(v) - 31}, "not_yet_valid", id="before-window"),
        pytest.param(lambda v: {"url": ORIGIN + "/other"}, "bad_signature", id="other-path"),
        pytest.param(
            lambda v: {"url": ORIGIN + v["sign_string"] + "?a=1"}, "bad_signature", id="query"
        ),
        pytest.param(
            lambda v: {"gate": {"versions": [5] if v["version"] != 5 else [4]}},
            "algorithm_not_allowed",
            id="version-not-allowed",
        ),
        pytest.param(
            lambda v: {"gate": {"keys": [{"id": "other", "secret": "utf8:" + v["secret"]}]}},
            "unknown_key",
            id="unknown-key-name",
        ),
    ],
)
def test_vector_refused_when_changed(
    vector: dict[str, Any], change: Callable[[dict[str, Any]], dict[str, Any]], code: str
) -> None:
    changed = change(vector)
    config = _vector_config(vector, **changed.get("gate", {}))
    url = changed.get("url", ORIGIN + vector["sign_string"])
    headers = _g2o_headers(vector, changed.get("signature"))
    outcome = _decide(config, url, headers, now=changed.get("now", _time(vector)))
    assert _code(outcome) == code
    assert outcome.source == "akamai-g2o"  # the decision log names the gate


@pytest.mark.parametrize("vector", VALID, ids=lambda v: f"v{v['version']}-{v['signature'][:6]}")
def test_window_edges_pass(vector: dict[str, Any]) -> None:
    config = _vector_config(vector)
    url = ORIGIN + vector["sign_string"]
    for now in (_time(vector) - 30, _time(vector) + 30):
        assert _decide(config, url, _g2o_headers(vector), now=now).refusal is None


# -- signing and configuration ---------------------------------------------------------


def _signed(
    path: str = "/orders?page=2",
    *,
    now: int = NOW,
    version: int = 5,
    key: str = "g2o-2026",
    secret: str = SECRET,
    unique: str = "-1646207363.570684466",
    sign_string: str | None = None,
) -> dict[str, str]:
    data = f"{version}, 2001:db8::7, 198.51.100.2, {now}, {unique}, {key}"
    signed = path if sign_string is None else sign_string
    return {
        "X-Akamai-G2O-Auth-Data": data,
        "X-Akamai-G2O-Auth-Sign": g2o_signature(version, secret.encode(), data, signed),
    }


def _config(**top: object) -> dict[str, object]:
    config: dict[str, object] = {
        "origin_gate": _gate(),
        "public_paths": ["/healthz", "/public/*"],
        "replay": {"store": "memory"},
    }
    config.update(top)
    return config


def test_sign_string_default_covers_the_raw_query() -> None:
    url = ORIGIN + "/orders?page=2"
    # The gate passes; no identity source is configured, so the route refuses as missing.
    outcome = _decide(_config(), url, _signed())
    assert _code(outcome) == "missing"
    assert outcome.source == "akamai-g2o"
    public = ORIGIN + "/public/list?page=2"
    assert _decide(_config(), public, _signed("/public/list?page=2")).refusal is None
    assert _code(_decide(_config(), public, _signed("/public/list"))) == "bad_signature"


def test_sign_string_path_alone() -> None:
    config = _config(origin_gate=_gate(sign_string="path"))
    public = ORIGIN + "/public/list?page=2"
    assert _decide(config, public, _signed(sign_string="/public/list")).refusal is None
    assert _code(_decide(config, public, _signed("/public/list?page=2"))) == "bad_signature"


def test_raw_path_is_signed_as_on_the_request_line() -> None:
    url = ORIGIN + "/public/caf%C3%A9"
    assert _decide(_config(), url, _signed("/public/caf%C3%A9")).refusal is None
    assert _code(_decide(_config(), url, _signed("/public/café"))) == "bad_signature"


def test_public_paths_are_gated_and_exempt_paths_are_not() -> None:
    config = _config(origin_gate=_gate(exempt_paths=["/healthz"]))
    assert _code(_decide(config, ORIGIN + "/public/list", {})) == "missing"
    assert _decide(config, ORIGIN + "/healthz", {}).refusal is None
    # An exempt path is exact (or a /prefix/* glob): nothing else slips through.
    assert _code(_decide(config, ORIGIN + "/healthzz", {})) == "missing"
    assert _code(_decide(config, ORIGIN + "/healthz/../public/list", {})) == "ambiguous_request"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("5, 1.2.3.4, 5.6.7.8, 1782000000, 1, g2o-2026, extra", "malformed"),
        ("5, 1.2.3.4, 5.6.7.8, 1782000000, g2o-2026", "malformed"),
        ("5,1.2.3.4,5.6.7.8,1782000000,1,g2o-2026", "malformed"),
        ("5, 1.2.3.4, 5.6.7.8, 1782000000.5, 1, g2o-2026", "malformed"),
        ("5, 1.2.3.4, 5.6.7.8, -1782000000, 1, g2o-2026", "malformed"),
        ("6, 1.2.3.4, 5.6.7.8, 1782000000, 1, g2o-2026", "malformed"),
        ("05, 1.2.3.4, 5.6.7.8, 1782000000, 1, g2o-2026", "malformed"),
        ("5, , 5.6.7.8, 1782000000, 1, g2o-2026", "malformed"),
        ("5, 1.2.3.4, 5.6.7.8, 1782000000, 1, g2o 2026", "malformed"),
        ("5, 1.2.3.4, 5.6.7.8, 1782000000, 1, g2o-2026" + ", x" * 200, "too_large"),
        # Two data headers joined by a WSGI server (waitress joins with ", ").
        (
            "5, 1.2.3.4, 5.6.7.8, 1782000000, 1, g2o-2026, 5, 1.2.3.4, 5.6.7.8, 1782000000, 2, g2o-2026",
            "malformed",
        ),
    ],
)
def test_malformed_data_header_is_refused(data: str, code: str) -> None:
    headers = {"X-Akamai-G2O-Auth-Data": data, "X-Akamai-G2O-Auth-Sign": "AAAA"}
    assert _code(_decide(_config(), ORIGIN + "/public/list", headers)) == code


@pytest.mark.parametrize("sign", ["AAAA AAAA", "AA==AA==", "A", "!!!!", "QUJD\n", "QUI"])
def test_sign_header_that_is_not_canonical_base64_is_malformed(sign: str) -> None:
    headers = {**_signed("/public/list"), "X-Akamai-G2O-Auth-Sign": sign}
    assert _code(_decide(_config(), ORIGIN + "/public/list", headers)) in (
        "malformed",
        "bad_signature",
    )


def test_replayed_data_header_is_refused_once_seen() -> None:
    engine = Engine(_config(), clock=lambda: NOW)
    headers = _signed("/public/list")

    def decide() -> Outcome:
        return engine.decide(
            RequestView.from_wsgi(build_wsgi_environ("GET", ORIGIN + "/public/list", headers))
        )

    assert decide().refusal is None
    second = decide()
    assert _code(second) == "replayed"
    assert second.source == "akamai-g2o"
    assert (
        engine.decide(
            RequestView.from_wsgi(
                build_wsgi_environ(
                    "GET", ORIGIN + "/public/list", _signed("/public/list", unique="2")
                )
            )
        ).refusal
        is None
    )


def test_gate_runs_before_the_sources() -> None:
    sources = [
        {
            "type": "rfc9421",
            "keys": [{"id": "2026-11", "alg": "hmac-sha256", "secret": "hex:" + HMAC_SECRET.hex()}],
        }
    ]
    config = _config(sources=sources)
    signer = EdgeSigner.for_config(config, clock=lambda: NOW)
    url = ORIGIN + "/orders"
    identity = signer.headers("GET", url, {"sub": "vera"})
    through = _decide(config, url, {**identity, **_signed("/orders")})
    assert through.refusal is None
    assert through.identity is not None
    assert through.identity.subject == "vera"
    assert through.source == "rfc9421"
    alone = _decide(config, url, identity)
    assert _code(alone) == "missing"
    assert alone.source == "akamai-g2o"
    forged = _decide(config, url, {**identity, **_signed("/orders", secret="guessed-secret")})
    assert _code(forged) == "bad_signature"
    assert forged.identity is None


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="allow_md5"):
        load_config(_config(origin_gate=_gate(versions=[1, 5])))
    with pytest.raises(ConfigurationError, match="versions"):
        load_config(_config(origin_gate=_gate(versions=[6])))
    with pytest.raises(ConfigurationError, match="versions"):
        load_config(_config(origin_gate=_gate(versions=[])))
    with pytest.raises(ConfigurationError, match="keys"):
        load_config(_config(origin_gate=_gate(keys=[])))
    with pytest.raises(ConfigurationError, match="type"):
        load_config(_config(origin_gate=_gate(type="akamai")))
    with pytest.raises(ConfigurationError, match="exempt_paths"):
        load_config(_config(origin_gate=_gate(exempt_paths=["healthz"])))
    with pytest.raises(ConfigurationError, match="window"):
        load_config(_config(origin_gate=_gate(window=0)))
    with pytest.raises(ConfigurationError, match="unknown"):
        load_config(_config(origin_gate=_gate(nonce="x")))
    with pytest.raises(ConfigurationError, match="sources"):
        load_config({"replay": {"store": "memory"}})
    assert load_config(_config(origin_gate=_gate(versions=[1, 2, 5], allow_md5=True)))


def test_check_warns_about_md5_short_and_inline_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("G2O_KEY", "utf8:" + "x" * 32)
    quiet = load_config(
        _config(origin_gate=_gate(keys=[{"id": "g2o-2026", "secret_env": "G2O_KEY"}]))
    )
    assert {w.id for w in config_warnings(quiet)} & {"W008", "W012", "W013"} == set()
    risky = load_config(
        _config(
            origin_gate=_gate(
                versions=[2, 3, 5], allow_md5=True, keys=[{"id": "g2o", "secret": "utf8:q7Zx"}]
            )
        )
    )
    found = {w.id: w.message for w in config_warnings(risky)}
    assert {"W008", "W012", "W013"} <= set(found)
    assert not any("q7Zx" in message for message in found.values())  # no secret quoted


def test_repr_shows_no_secret() -> None:
    gate = load_config(_config()).origin_gate
    assert gate is not None
    assert SECRET not in repr(gate)
    assert SECRET not in str(gate)
    assert "keys=" not in repr(gate)


# -- the middlewares and a framework -----------------------------------------------------


def _wsgi_app(seen: list[dict[str, Any]]) -> Callable[..., Any]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return app


def _call_wsgi(app: Callable[..., Any], url: str, headers: dict[str, str]) -> str:
    statuses: list[str] = []
    body = b"".join(app(build_wsgi_environ("GET", url, headers), lambda s, h: statuses.append(s)))
    assert body
    return statuses[0]


def test_wsgi_middleware_gates_and_strips() -> None:
    seen: list[dict[str, Any]] = []
    app = WSGIMiddleware(_wsgi_app(seen), _config(), clock=lambda: NOW)
    assert _call_wsgi(app, ORIGIN + "/public/list", {}).startswith("401")
    assert _call_wsgi(app, ORIGIN + "/public/list", _signed("/public/list")).startswith("200")
    assert not any("G2O" in key for key in seen[-1])
    assert _call_wsgi(app, ORIGIN + "/public/list", _signed("/public/list")).startswith("401")


def test_asgi_middleware_gates_and_strips() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    middleware = ASGIMiddleware(app, _config(), clock=lambda: NOW)

    def call(headers: dict[str, str]) -> int:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = build_asgi_scope("GET", ORIGIN + "/public/list", headers)
        asyncio.run(middleware(scope, receive, send))
        return int(sent[0]["status"])

    assert call({}) == 401
    assert call(_signed("/public/list")) == 200
    names = {name for name, _ in seen[-1]["headers"]}
    assert not any(name.startswith(b"x-akamai-g2o") for name in names)
    assert call(_signed("/public/list")) == 401  # replayed
    # Two data headers kept apart by the ASGI server: ambiguous, refused.
    doubled = build_asgi_scope(
        "GET",
        ORIGIN + "/public/list",
        [*_signed("/public/list", unique="9").items(), ("X-Akamai-G2O-Auth-Data", "x")],
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware(doubled, receive, send))
    assert sent[0]["status"] == 401  # ambiguous: refused, never passed


def test_flask_app_behind_the_gate() -> None:
    flask = pytest.importorskip("flask")
    from edgeclaims.contrib.flask import EdgeClaims

    app = flask.Flask(__name__)
    EdgeClaims(app, _config(origin_gate=_gate(exempt_paths=["/healthz"])), clock=lambda: NOW)

    @app.get("/public/list")
    def listing() -> str:
        assert "HTTP_X_AKAMAI_G2O_AUTH_DATA" not in flask.request.environ
        return "listed"

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/public/list").status_code == 401
    headers = _signed("/public/list")
    response = client.get("/public/list", headers=headers)
    assert response.status_code == 200
    assert response.text == "listed"
    assert client.get("/public/list", headers=headers).status_code == 401


def test_testing_helper_signs_as_akamai_does() -> None:
    from edgeclaims.testing import akamai_g2o_headers

    config = _config()
    url = ORIGIN + "/public/list?page=2"
    first = akamai_g2o_headers(url, "g2o-2026", SECRET, clock=lambda: NOW)
    second = akamai_g2o_headers(url, "g2o-2026", SECRET, clock=lambda: NOW)
    assert first["X-Akamai-G2O-Auth-Data"] != second["X-Akamai-G2O-Auth-Data"]
    engine = Engine(config, clock=lambda: NOW)
    for headers in (first, second):
        view = RequestView.from_wsgi(build_wsgi_environ("GET", url, headers))
        assert engine.decide(view).refusal is None
    path_only = akamai_g2o_headers(url, "g2o-2026", SECRET, sign_string="path", clock=lambda: NOW)
    view = RequestView.from_wsgi(build_wsgi_environ("GET", url, path_only))
    assert _code(engine.decide(view)) == "bad_signature"


def test_cli_verify_and_check_explain_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeclaims.cli import main

    monkeypatch.setenv("G2O_KEY", "utf8:" + SECRET)
    config = tmp_path / "edgeclaims.toml"
    config.write_text(
        "[edgeclaims]\n"
        'public_paths = ["/public/*"]\n'
        "[edgeclaims.origin_gate]\n"
        'type = "akamai-g2o"\n'
        'keys = [{ id = "g2o-2026", secret_env = "G2O_KEY" }]\n'
        "versions = [3, 5]\n",
        encoding="utf-8",
    )
    url = ORIGIN + "/public/list"
    headers = _signed("/public/list")
    argv = ["verify", "--config", str(config), "--url", url, "--now", str(NOW)]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "gate" in out
    assert "akamai-g2o" in out
    assert SECRET not in out
    forged = [*argv[:-4], "-H", f"X-Akamai-G2O-Auth-Data: {headers['X-Akamai-G2O-Auth-Data']}"]
    forged += ["-H", "X-Akamai-G2O-Auth-Sign: " + _flipped(headers["X-Akamai-G2O-Auth-Sign"])]
    assert main(forged) == 1
    assert "bad_signature" in capsys.readouterr().out
    assert main(["check", "--config", str(config)]) == 0
    checked = capsys.readouterr()
    assert "W012" in checked.out + checked.err


_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=120)


@settings(deadline=None)
@given(data=_TEXT, sign=_TEXT, fields=st.lists(_TEXT, min_size=6, max_size=6))
def test_any_header_text_is_refused_never_raised(data: str, sign: str, fields: list[str]) -> None:
    engine = Engine(_config(), clock=lambda: NOW)
    for text in (data, ", ".join(fields), ", ".join(["5", *fields[1:3], str(NOW), *fields[4:]])):
        headers = {"X-Akamai-G2O-Auth-Data": text, "X-Akamai-G2O-Auth-Sign": sign}
        scope = build_asgi_scope("GET", ORIGIN + "/public/list", list(headers.items()))
        outcome = asyncio.run(engine.adecide(RequestView.from_asgi(scope)))
        assert outcome.refusal is not None
        assert outcome.refusal.code in {
            "missing",
            "malformed",
            "too_large",
            "algorithm_not_allowed",
            "unknown_key",
            "expired",
            "not_yet_valid",
            "bad_signature",
        }


def test_exempt_paths_match_the_path_the_app_routes_on() -> None:
    # A prefix a proxy header sets (ProxyFix x_prefix) must not exempt the
    # route below it: the router dispatches PATH_INFO, /public/list here
    # (a public route: without the gate it would be served to anyone).
    config = _config(origin_gate=_gate(exempt_paths=["/healthz", "/healthz/*"]))
    engine = Engine(config, clock=lambda: NOW)

    def decide(script_name: str, path_info: str) -> Outcome:
        environ = build_wsgi_environ("GET", ORIGIN + script_name + path_info, {})
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = script_name, path_info
        for raw in ("REQUEST_URI", "RAW_URI", "UNENCODED_URL"):
            environ.pop(raw, None)  # wsgiref, runserver: no raw URI to bind against
        return engine.decide(RequestView.from_wsgi(environ))

    assert _code(decide("/healthz", "/public/list")) == "missing"
    assert _code(decide("/healthz", "/admin")) == "missing"
    assert decide("/app", "/healthz").refusal is None  # mounted: the app's own probe path
    assert decide("", "/healthz").refusal is None


def test_a_non_ascii_sign_header_is_malformed_and_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {**_signed("/public/list"), "X-Akamai-G2O-Auth-Sign": "\u00e9" * 44}
    with caplog.at_level("ERROR", logger="edgeclaims"):
        outcome = _decide(_config(), ORIGIN + "/public/list", headers)
    assert _code(outcome) == "malformed"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
