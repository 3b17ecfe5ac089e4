"""Routing differential (issue #11): no path, method or server quirk walks around a route rule.

DESIGN.md: "A route rule protects every request that the framework would
dispatch to a view under it." The framework decides, not our idea of the
path: every request is sent twice, to the same site without edgeclaims (the
oracle: which view does this framework, behind this server, dispatch it
to?) and guarded by edgeclaims with the *viewer* identity (groups=staff, no
``admin`` role, no ``orders:write``). The viewer must never reach a view the
oracle calls protected — a ``"/admin/*"`` view, ``POST /orders/<id>`` or
``GET /reports/<name>``; those views check nothing themselves (see
``routing_apps``). The *admin* identity is the control: it must still reach
protected views, so a suite that refused everything could not pass.

In process, requests are built as a server builds them from the raw request
line (``routing_apps.wire``) for Flask (WSGI), Django (WSGI and ASGI) and
FastAPI (ASGI, also mounted at ``root_path = "/app"`` as uvicorn's
``--root-path`` does); over real sockets a sample goes, byte for byte, to
waitress, gunicorn, werkzeug's server, uvicorn (h11 and httptools) and
hypercorn. The spellings (``routing_apps.spellings``) are dot and empty
segments literal and percent-encoded, encoded slashes and backslashes,
``;`` parameters, trailing slashes, case, Unicode look-alikes, invalid
UTF-8, double encoding, public prefixes with traversal, query strings;
the methods include HEAD, OPTIONS and lower- and mixed-case spellings.

The counts are printed in a "routing differential" section at the end of
the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from routing_apps import ADMIN, PROTECTED, TWIN_HEADER, VIEWER, routing_config
from routing_apps.spellings import (
    ALL_METHODS,
    CORE_METHODS,
    PLAIN,
    Spelling,
    method_class,
    socket_sample,
    spellings,
)
from routing_apps.wire import (
    Answer,
    asgi_scope,
    call_asgi,
    call_wsgi,
    edge_headers,
    send_raw,
    wsgi_environ,
)
from tables import HMAC_KEY

from edgeclaims.signer import sign_request

# Framework routers and real servers, minutes of them: CI runs these under its
# first Python only (.ci/run).
pytestmark = pytest.mark.slow

SPELLINGS = spellings()
MOUNT = "/app"


def _framework(name: str) -> Any:
    """Import a framework, or skip — except under CI, where it must be installed."""
    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name)


# -- what is sent -------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request: method and raw target, for an app mounted at ``mount``."""

    method: str
    spelling: Spelling
    mount: str = ""

    @property
    def target(self) -> str:
        """The request target after the mount (what the app's own router sees)."""
        return self.spelling.target

    @property
    def classes(self) -> tuple[str, ...]:
        mounted = ("mounted",) if self.mount else ()
        return (*self.spelling.classes, method_class(self.method), *mounted)

    def __str__(self) -> str:
        mount = f" (root_path {self.mount})" if self.mount else ""
        return f"{self.method} {self.mount}{self.target}{mount}"


def probes(*, step: int = 1, mounted: bool = False) -> list[Probe]:
    """Spellings with the core methods; the other methods and the mount with a subset.

    Every hand-written spelling is in both; of the generated ones, every
    ``step``-th goes with the core methods and every 10th with the rest.
    """
    chosen = [s for i, s in enumerate(SPELLINGS) if s.handwritten or i % step == 0]
    subset = [s for i, s in enumerate(SPELLINGS) if s.handwritten or i % 10 == 0]
    found = [Probe(m, s) for s in chosen for m in CORE_METHODS]
    found += [Probe(m, s) for s in subset for m in ALL_METHODS if m not in CORE_METHODS]
    if mounted:
        found += [Probe(m, s, MOUNT) for s in subset for m in CORE_METHODS]
    return found


# -- what comes back ----------------------------------------------------------------


def _protected(answer: Answer | None) -> bool:
    return answer is not None and answer.view is not None and answer.view.startswith(PROTECTED)


@dataclass(frozen=True)
class Result:
    probe: Probe
    #: The framework without edgeclaims: the oracle.
    bare: Answer
    #: Guarded by edgeclaims, with the viewer's identity.
    viewer: Answer
    #: Guarded, with the admin's identity; only where the oracle saw a protected view.
    admin: Answer | None

    @property
    def dispatched_to_protected(self) -> bool:
        return _protected(self.bare)

    @property
    def viewer_reached_protected(self) -> bool:
        return _protected(self.viewer)

    @property
    def admin_reached_protected(self) -> bool:
        return _protected(self.admin)

    def describe(self) -> str:
        return (
            f"{self.probe}: framework → {self.bare.view or self.bare.status}; "
            f"viewer → {self.viewer.status} {self.viewer.view or ''}".rstrip()
        )


def _by_class(results: list[Result]) -> str:
    spellings = Counter(c for r in results for c in r.probe.spelling.classes)
    methods = Counter(method_class(r.probe.method) for r in results)
    mounted = sum(1 for r in results if r.probe.mount)
    parts = [f"{c} {n}" for c, n in spellings.most_common()]
    parts += [f"{c} {n}" for c, n in methods.most_common()]
    if mounted:
        parts.append(f"mounted {mounted}")
    return ", ".join(parts)


def _summarize(name: str, results: list[Result]) -> list[str]:
    targets = {(r.probe.mount, r.probe.target) for r in results}
    protected = [r for r in results if r.dispatched_to_protected]
    bypasses = [r for r in results if r.viewer_reached_protected]
    admin = [r for r in protected if r.admin_reached_protected]
    broken = [r for r in results if r.viewer.status >= 500 and r.bare.status < 500]
    lines = [
        f"{name}: {len(results)} requests ({len(targets)} targets); "
        f"the framework dispatched {len(protected)} "
        f"({len({(r.probe.mount, r.probe.target) for r in protected})} targets) "
        "to a protected view; "
        f"the viewer reached one {len(bypasses)} times, the admin {len(admin)}"
        + (f"; edgeclaims failed (5xx or raised) {len(broken)} times" if broken else "")
    ]
    if bypasses:
        lines.append(f"    got through, by class: {_by_class(bypasses)}")
    return lines


def _bypass_report(results: list[Result], limit: int = 3) -> str:
    """The requests that reached a protected view, grouped by class, a few of each."""
    bypasses = [r for r in results if r.viewer_reached_protected]
    by_class: dict[str, list[Result]] = {}
    for result in bypasses:
        for name in result.probe.classes:
            by_class.setdefault(name, []).append(result)
    lines = [
        f"{len(bypasses)} of {len(results)} requests reached a protected view as the viewer "
        f"(by class: {_by_class(bypasses)}):"
    ]
    for name, found in sorted(by_class.items(), key=lambda item: -len(item[1])):
        lines.append(f"  [{name}]")
        lines += [f"      {r.describe()}" for r in found[:limit]]
    return "\n".join(lines)


# -- the summary at the end of the run ------------------------------------------------


class RoutingSummary:
    """Prints what the differential saw, whatever ``-s`` says (a terminal summary section)."""

    name = "routing-differential-summary"

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, lines: list[str]) -> None:
        self.lines += lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("routing differential")
            for line in self.lines:
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def routing_summary(pytestconfig: pytest.Config) -> RoutingSummary:
    plugin = pytestconfig.pluginmanager.get_plugin(RoutingSummary.name)
    if not isinstance(plugin, RoutingSummary):
        plugin = RoutingSummary()
        pytestconfig.pluginmanager.register(plugin, RoutingSummary.name)
    return plugin


@pytest.fixture(scope="module", autouse=True)
def quiet_logs() -> Iterator[None]:
    """No log record per refused request (edgeclaims, django.request, the servers).

    ``logging.disable`` rather than logger levels: Django's ``setup()``
    resets the levels of existing ``django.*`` loggers when it configures logging.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


# -- in process -----------------------------------------------------------------------


@dataclass(frozen=True)
class Framework:
    """How to build the site (bare: ``config=None``) and how to call it."""

    name: str
    interface: str  # "wsgi" or "asgi"
    module: str  # the framework to import (skip without it)
    make: Callable[[dict[str, Any] | None], Any]
    #: Every n-th spelling (Django's ASGI handler costs about 1 ms a request).
    step: int = 1

    @property
    def mounted(self) -> bool:
        """ASGI apps are also run mounted at ``/app`` (uvicorn's ``--root-path``)."""
        return self.interface == "asgi"


def _make_flask(config: dict[str, Any] | None) -> Any:
    from routing_apps.flask_app import make_flask_app

    return make_flask_app(config)


def _make_django_wsgi(config: dict[str, Any] | None) -> Any:
    from routing_apps.django_app import make_django_wsgi

    return make_django_wsgi(config)


def _make_django_asgi(config: dict[str, Any] | None) -> Any:
    from routing_apps.django_app import make_django_asgi

    return make_django_asgi(config)


def _make_fastapi(config: dict[str, Any] | None) -> Any:
    from routing_apps.fastapi_app import make_fastapi_app

    return make_fastapi_app(config)


FRAMEWORKS = {
    f.name: f
    for f in (
        Framework("flask", "wsgi", "flask", _make_flask),
        Framework("django-wsgi", "wsgi", "django", _make_django_wsgi),
        Framework("django-asgi", "asgi", "django", _make_django_asgi, step=3),
        Framework("fastapi", "asgi", "fastapi", _make_fastapi),
    )
}


@cache
def _apps(name: str, mount: str) -> tuple[Any, Any]:
    """The bare site and the guarded one (policy written for ``mount``), built once."""
    framework = FRAMEWORKS[name]
    return framework.make(None), framework.make(routing_config(mount))


def _run_wsgi(name: str, found: list[Probe]) -> list[Result]:
    results = []
    for probe in found:
        bare, guarded = _apps(name, probe.mount)
        viewer_headers = edge_headers(probe.method, probe.target, VIEWER)
        bare_answer = call_wsgi(bare, wsgi_environ(probe.method, probe.target, viewer_headers))
        viewer = call_wsgi(guarded, wsgi_environ(probe.method, probe.target, viewer_headers))
        admin = None
        if _protected(bare_answer):
            admin_headers = edge_headers(probe.method, probe.target, ADMIN)
            admin = call_wsgi(guarded, wsgi_environ(probe.method, probe.target, admin_headers))
        results.append(Result(probe, bare_answer, viewer, admin))
    return results


async def _run_asgi(name: str, found: list[Probe], batch: int = 16) -> list[Result]:
    # In batches: Django's ASGI handler waits on its sync thread, and
    # requests in flight together overlap those waits.
    results: list[Result] = []
    async with _one_thread_for_sync_code(name):
        for start in range(0, len(found), batch):
            chunk = found[start : start + batch]
            results += await asyncio.gather(*(_asgi_probe(name, probe) for probe in chunk))
    return results


async def _asgi_probe(name: str, probe: Probe) -> Result:
    bare, guarded = _apps(name, probe.mount)
    signed_target = probe.mount + probe.target

    def scope(headers: list[tuple[str, str]]) -> dict[str, Any]:
        return asgi_scope(probe.method, probe.target, headers, root_path=probe.mount)

    viewer_headers = edge_headers(probe.method, signed_target, VIEWER)
    bare_answer = await call_asgi(bare, scope(viewer_headers))
    viewer = await call_asgi(guarded, scope(viewer_headers))
    admin = None
    if _protected(bare_answer):
        admin = await call_asgi(guarded, scope(edge_headers(probe.method, signed_target, ADMIN)))
    return Result(probe, bare_answer, viewer, admin)


def _one_thread_for_sync_code(name: str) -> Any:
    """Django's ASGI handler starts a thread per request for its sync parts, unless one
    ``ThreadSensitiveContext`` is already open: open it once for the whole run (speed only)."""
    if FRAMEWORKS[name].module == "django":
        from asgiref.sync import ThreadSensitiveContext

        return ThreadSensitiveContext()
    return contextlib.nullcontext()


def run_in_process(name: str, found: list[Probe]) -> list[Result]:
    framework = FRAMEWORKS[name]
    if framework.interface == "wsgi":
        return _run_wsgi(name, found)
    return asyncio.run(_run_asgi(name, found))


@pytest.fixture(scope="module")
def in_process_results(routing_summary: RoutingSummary) -> Callable[[str], list[Result]]:
    """The differential for one framework, run once per module and reported."""
    done: dict[str, list[Result]] = {}

    def results(name: str) -> list[Result]:
        if name not in done:
            framework = FRAMEWORKS[name]
            _framework(framework.module)
            found = probes(step=framework.step, mounted=framework.mounted)
            done[name] = run_in_process(name, found)
            routing_summary.add(_summarize(f"in process, {name}", done[name]))
        return done[name]

    return results


# -- the tests: in process --------------------------------------------------------------


def test_edge_headers_sign_as_the_edgeclaims_signer() -> None:
    """``routing_apps.wire.edge_headers`` is the profile's signature, as ``sign_request`` makes it."""
    for target in ("/admin", "/admin/%2e%2e/healthz?x=1", "/static/..\\admin?", "/%ff"):
        expected = sign_request(
            "POST", "http://app.example.com" + target, VIEWER, HMAC_KEY, created=1, nonce="n"
        )
        assert dict(edge_headers("POST", target, VIEWER, created=1, nonce="n")) == expected


def test_spellings_cover_every_class() -> None:
    classes = Counter(c for s in SPELLINGS for c in s.classes)
    for name in (
        "plain",
        "dot-segment",
        "encoded-dot",
        "encoded-slash",
        "empty-segment",
        "backslash",
        "param",
        "trailing",
        "case",
        "unicode",
        "invalid-utf8",
        "double-encoding",
        "public-traversal",
        "query",
    ):
        assert classes[name] > 0, name
    assert len(SPELLINGS) > 1500


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_oracle_dispatches_plain_requests_to_their_views(
    name: str, in_process_results: Callable[[str], list[Result]]
) -> None:
    """The bare site is a working oracle: each plain request reaches the view it names."""
    expected = {
        ("GET", "/admin"): "protected:admin",
        ("GET", "/admin/"): "protected:admin-slash",
        ("GET", "/admin/users/7"): "protected:admin-user",
        ("GET", "/admin/x/y"): "protected:admin-rest",
        ("POST", "/orders/7"): "protected:orders-write",
        ("GET", "/orders/7"): "open:orders-read",
        ("GET", "/reports/q"): "protected:reports",
        ("GET", "/healthz"): "public:healthz",
        ("GET", "/static/a.css"): "public:static",
        ("GET", "/whoami"): "open:whoami",
        ("GET", "/elsewhere"): "open:catch-all",
    }
    seen = {
        (r.probe.method, r.probe.target): r.bare.view
        for r in in_process_results(name)
        if not r.probe.mount
    }
    assert {key: seen.get(key) for key in expected} == expected


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_viewer_never_reaches_a_protected_view(
    name: str, in_process_results: Callable[[str], list[Result]]
) -> None:
    results = in_process_results(name)
    assert not any(r.viewer_reached_protected for r in results), _bypass_report(results)


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_admin_still_reaches_protected_views(
    name: str, in_process_results: Callable[[str], list[Result]]
) -> None:
    """The control: the differential can see a protected view through edgeclaims."""
    results = in_process_results(name)
    reached = {
        (r.probe.method, r.probe.mount + r.probe.target)
        for r in results
        if r.admin_reached_protected
    }
    plain = {
        ("GET", "/admin"),
        ("GET", "/admin/"),
        ("GET", "/admin/users/7"),
        ("GET", "/admin/x/y"),
        ("POST", "/admin/x"),
        ("POST", "/orders/7"),
        ("GET", "/reports/q"),
    }
    if FRAMEWORKS[name].mounted:
        plain |= {(m, MOUNT + t) for m, t in plain}
    assert plain <= reached, sorted(plain - reached)
    # Spellings with a single reading (encoded letters and slashes, ";",
    # look-alikes, double encoding, HEAD) still reach the view: well over 60.
    assert len(reached) >= 60, len(reached)


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_guarded_site_routes_as_the_bare_one(
    name: str, in_process_results: Callable[[str], list[Result]]
) -> None:
    """What edgeclaims lets through reaches the view the framework alone picks, and
    edgeclaims never fails (5xx, an exception) where the framework alone answered."""
    results = in_process_results(name)
    moved = [r.describe() for r in results if r.viewer.view and r.viewer.view != r.bare.view]
    broken = [
        f"{r.describe()} ({r.viewer.error or 'status'})"
        for r in results
        if r.viewer.status >= 500 and r.bare.status < 500
    ]
    assert (moved[:10], broken[:10]) == ([], [])


# -- the tests: random spellings ----------------------------------------------------------

SEGMENTS = (
    "admin",
    "ADMIN",
    "%61dmin",
    "users",
    "7",
    "x",
    "orders",
    "reports",
    "q",
    "healthz",
    "static",
    "whoami",
    "",
    ".",
    "..",
    "%2e",
    "%2e%2e",
    ".%2E",
    "..%2f",
    "%2f",
    "%5c",
    "\\",
    "..;",
    ";x=1",
    "%ff",
    "%c0%ae",
    "%252e",
    "%EF%BC%8E",
)


#: Where a random path starts: under a protected view, or somewhere public.
HEADS = (
    "/admin",
    "/admin/x",
    "/admin/users/7",
    "/orders/7",
    "/reports/q",
    "/healthz",
    "/static",
    "",
)


@st.composite
def random_probes(draw: st.DrawFn) -> Probe:
    head = draw(st.sampled_from(HEADS))
    segments = draw(st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=5))
    query = draw(st.sampled_from(("", "?", "?x=1", "?/../admin")))
    method = draw(st.sampled_from(ALL_METHODS))
    target = "/".join((head, *segments)) or "/"
    return Probe(method, Spelling(target + query, ("random",)))


@pytest.mark.parametrize("name", list(FRAMEWORKS))
def test_viewer_never_reaches_a_protected_view_random(name: str) -> None:
    framework = FRAMEWORKS[name]
    _framework(framework.module)

    @settings(
        max_examples=200 if framework.step == 1 else 60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(random_probes())
    def check(probe: Probe) -> None:
        (result,) = run_in_process(name, [probe])
        assert not result.viewer_reached_protected, result.describe()

    check()


# -- over real sockets ------------------------------------------------------------------------


#: (server, framework) pairs; each serves the bare and the guarded twin on one port.
SERVERS = (
    ("waitress", "flask"),
    ("gunicorn", "flask"),
    ("werkzeug", "flask"),
    ("waitress", "django-wsgi"),
    ("uvicorn-h11", "fastapi"),
    ("uvicorn-httptools", "fastapi"),
    ("hypercorn", "fastapi"),
    ("uvicorn-h11", "django-asgi"),
)

#: Request targets a client may send in absolute form (RFC 9112 §3.2.2).
ABSOLUTE_FORM = (
    "http://app.example.com/admin/x",
    "http://app.example.com/admin/../healthz",
    "http://app.example.com/reports/q",
)


def socket_probes() -> list[Probe]:
    sample = socket_sample(SPELLINGS)
    found = [Probe(m, s) for s in sample for m in CORE_METHODS]
    for target in ("/orders/7", "/reports/q", "/admin/x", "/admin/../healthz", "/healthz"):
        spelling = next(s for s in SPELLINGS if s.target == target)
        found += [Probe(m, spelling) for m in ALL_METHODS if m not in CORE_METHODS]
    found += [Probe("GET", Spelling(t, ("absolute-form",))) for t in ABSOLUTE_FORM]
    return found


SOCKET_PROBES = socket_probes()


def _signed_path(target: str) -> str:
    """``@path`` and ``@query`` of a target: an absolute-form target signs its path."""
    if target.startswith("http://"):
        return "/" + target.split("/", 3)[3]
    return target


def _twin(framework: str) -> Any:
    from routing_apps import servers

    return {
        "flask": servers.make_flask_twin,
        "django-wsgi": servers.make_django_wsgi_twin,
        "fastapi": servers.make_fastapi_twin,
        "django-asgi": servers.make_django_asgi_twin,
    }[framework]()


@contextlib.contextmanager
def serving(server: str, framework: str) -> Iterator[int]:
    from routing_apps import servers

    _framework(FRAMEWORKS[framework].module)
    if server == "gunicorn":
        _framework("gunicorn")
        with servers.gunicorn_server("routing_apps.servers:make_flask_twin()") as port:
            yield port
        return
    if server == "waitress":
        _framework("waitress")
        context = servers.waitress_server(_twin(framework))
    elif server == "werkzeug":
        context = servers.werkzeug_server(_twin(framework))
    elif server.startswith("uvicorn-"):
        _framework("uvicorn")
        http = server.removeprefix("uvicorn-")
        if http == "httptools":
            _framework("httptools")
        context = servers.uvicorn_server(_twin(framework), http=http)
    else:
        _framework("hypercorn")
        context = servers.hypercorn_server(_twin(framework))
    with context as port:
        yield port


def run_over_socket(port: int, found: list[Probe]) -> list[Result]:
    results = []
    for probe in found:
        signed = _signed_path(probe.target)
        bare = send_raw(port, probe.method, probe.target, [(TWIN_HEADER, "bare")])
        viewer = send_raw(
            port, probe.method, probe.target, edge_headers(probe.method, signed, VIEWER)
        )
        admin = None
        if _protected(bare):
            admin = send_raw(
                port, probe.method, probe.target, edge_headers(probe.method, signed, ADMIN)
            )
        results.append(Result(probe, bare, viewer, admin))
    return results


@pytest.fixture(scope="module")
def socket_results(routing_summary: RoutingSummary) -> Callable[[str, str], list[Result]]:
    """One server at a time: started, probed with the whole sample, stopped."""
    done: dict[tuple[str, str], list[Result]] = {}

    def results(server: str, framework: str) -> list[Result]:
        if (server, framework) not in done:
            with serving(server, framework) as port:
                done[server, framework] = run_over_socket(port, SOCKET_PROBES)
            routing_summary.add(_summarize(f"{server} + {framework}", done[server, framework]))
        return done[server, framework]

    return results


@pytest.mark.parametrize(("server", "framework"), SERVERS, ids=[f"{s}-{f}" for s, f in SERVERS])
def test_viewer_never_reaches_a_protected_view_over_http(
    server: str, framework: str, socket_results: Callable[[str, str], list[Result]]
) -> None:
    results = socket_results(server, framework)
    assert not any(r.viewer_reached_protected for r in results), _bypass_report(results)


@pytest.mark.parametrize(("server", "framework"), SERVERS, ids=[f"{s}-{f}" for s, f in SERVERS])
def test_admin_still_reaches_protected_views_over_http(
    server: str, framework: str, socket_results: Callable[[str, str], list[Result]]
) -> None:
    results = socket_results(server, framework)
    reached = {(r.probe.method, r.probe.target) for r in results if r.admin_reached_protected}
    plain = {
        ("GET", "/admin"),
        ("GET", "/admin/"),
        ("GET", "/admin/users/7"),
        ("POST", "/admin/x"),
        ("POST", "/orders/7"),
        ("GET", "/reports/q"),
    }
    assert plain <= reached, sorted(plain - reached)
    assert len(reached) >= 20, len(reached)


def test_plain_spellings_are_in_the_socket_sample() -> None:
    targets = {p.target for p in SOCKET_PROBES}
    assert set(PLAIN[:7]) <= targets
    assert len({p.target for p in SOCKET_PROBES}) >= 40
