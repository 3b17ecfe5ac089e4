"""The rig of bench_servers.py: the samples' bare twins, server processes, wrk bursts.

Imports nothing from edgeclaims and no framework at module level: the bare
twins' server processes import this module, and must run without edgeclaims.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from flask import Flask

TICKS = os.sysconf("SC_CLK_TCK")

# -- the bare twins -----------------------------------------------------------------
#
# Each twin is its sample's app minus edgeclaims: the same framework, the same
# three routes, the same return annotations (FastAPI validates and serializes
# through them) and a JSON body of the same shape, for a fixed identity — the
# one the benchmark signs. The identity headers still arrive (the twin gets the
# same signed requests), so its server parses as many bytes; nothing reads them.
# Factories, so that each server process imports only its own framework:
#
#     python -m waitress --threads=4 --call server_rig:flask_twin
#     python -m uvicorn --factory server_rig:fastapi_twin

#: What the samples answer on /whoami for ``{"sub": "vera", "groups": ["viewers"]}``.
VIEWER_DOCUMENT: dict[str, Any] = {
    "sub": "vera",
    "roles": ["viewer"],
    "permissions": ["samples:read"],
    "source": "rfc9421",
}
ADMIN_DOCUMENT: dict[str, Any] = {
    "admin": True,
    "sub": "ada",
    "roles": ["admin", "viewer"],
    "permissions": ["samples:admin", "samples:read"],
    "source": "rfc9421",
}


def flask_twin() -> Flask:
    """samples/flask_app/app.py without ``EdgeClaims(app)`` and its decorators."""
    from flask import Flask

    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/whoami")
    def whoami() -> dict[str, Any]:
        return dict(VIEWER_DOCUMENT)

    @app.get("/admin")
    def admin() -> dict[str, Any]:
        return dict(ADMIN_DOCUMENT)

    return app


def fastapi_twin() -> FastAPI:
    """samples/fastapi_app/main.py without ``setup_edgeclaims`` and its dependencies."""
    from fastapi import FastAPI

    app = FastAPI(title="edgeclaims FastAPI sample")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/whoami")
    async def whoami() -> dict[str, Any]:
        return dict(VIEWER_DOCUMENT)

    @app.get("/admin")
    async def admin() -> dict[str, Any]:
        return dict(ADMIN_DOCUMENT)

    return app


# -- the floor --------------------------------------------------------------------
#
# Issue #14: a target that no middleware could reach on these views must be
# shown to be so, in the same run. The floor is each twin behind a middleware
# of edgeclaims' shape that does nothing with what it reads: the same
# environ keys or scope fields, the three identity headers found and removed,
# an outcome placed where edgeclaims places it, the app called. What any
# middleware pays before it does any work; the samples' cost above it is ours.
#
#     python -m waitress --threads=4 --call server_rig:flask_floor
#     python -m uvicorn --factory server_rig:fastapi_floor

#: The headers edgeclaims reads for the samples' rfc9421 source, and removes.
FLOOR_HEADERS = ("x-edge-claims", "signature", "signature-input")
_FLOOR_ENVIRON_KEYS = tuple("HTTP_" + name.upper().replace("-", "_") for name in FLOOR_HEADERS)
_FLOOR_SCOPE_NAMES = frozenset(name.encode() for name in FLOOR_HEADERS)


class FloorWSGI:
    """A WSGI middleware that reads what edgeclaims reads and decides nothing."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        read = (
            environ.get("REQUEST_METHOD"),
            environ.get("SCRIPT_NAME", ""),
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            environ.get("HTTP_HOST"),
            environ.get("wsgi.url_scheme"),
            environ.get("REMOTE_ADDR"),
            [environ.get(key) for key in _FLOOR_ENVIRON_KEYS],
        )
        for key in _FLOOR_ENVIRON_KEYS:
            environ.pop(key, None)
        environ["edgeclaims.identity"] = environ["edgeclaims.outcome"] = read
        return self.app(environ, start_response)


class FloorASGI:
    """An ASGI middleware that reads what edgeclaims reads and decides nothing."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        read = (
            scope.get("method"),
            scope.get("root_path", ""),
            scope.get("path"),
            scope.get("raw_path"),
            scope.get("query_string"),
            scope.get("client"),
            [value for name, value in headers if name in _FLOOR_SCOPE_NAMES or name == b"host"],
        )
        scope = dict(scope)
        scope["headers"] = [(n, v) for n, v in headers if n not in _FLOOR_SCOPE_NAMES]
        scope["edgeclaims.identity"] = scope["edgeclaims.outcome"] = read
        await self.app(scope, receive, send)


def flask_floor() -> Flask:
    """The Flask twin behind :class:`FloorWSGI`."""
    app = flask_twin()
    app.wsgi_app = FloorWSGI(app.wsgi_app)  # type: ignore[method-assign]
    return app


def fastapi_floor() -> FloorASGI:
    """The FastAPI twin behind :class:`FloorASGI`."""
    return FloorASGI(fastapi_twin())


# -- the reference verifier ---------------------------------------------------------
#
# The other end from the floor: each twin behind reference_verifier.py, the
# least a verifier of these requests must do (its docstring), nonces in the
# store EDGECLAIMS_REFERENCE_STORE names. How much of a budget verification
# itself takes, in the same run.
#
#     python -m waitress --threads=4 --call server_rig:flask_reference
#     python -m uvicorn --factory server_rig:fastapi_reference


def flask_reference() -> Flask:
    """The Flask twin behind the reference verifier."""
    from reference_verifier import ReferenceWSGI, Verifier, store_from_environment

    app = flask_twin()
    verifier = Verifier(store_from_environment())
    app.wsgi_app = ReferenceWSGI(app.wsgi_app, verifier)  # type: ignore[method-assign]
    return app


def fastapi_reference() -> Any:
    """The FastAPI twin behind the reference verifier."""
    from reference_verifier import ReferenceASGI, Verifier, store_from_environment

    return ReferenceASGI(fastapi_twin(), Verifier(store_from_environment()))


# -- the samples' own views on the reference verifier -------------------------------
#
# A budget line compares the sample *as shipped* with its twin, and the sample's
# views ask edgeclaims' framework API for the identity: the Flask extension's
# refusal hook and ``@identity_required``, FastAPI's ``CurrentIdentity``
# dependency. Whatever verifies the request, those run. So each sample is also
# measured with edgeclaims' middleware swapped for the reference verifier,
# which hands the views the Identity and Outcome they read: what the sample
# would cost if its verification cost the least any verifier's can. A budget
# this row misses is out of reach for any verifier behind these views.
#
#     EDGECLAIMS_CONFIG=… python -m waitress --threads=4 --call server_rig:flask_sample_reference
#     EDGECLAIMS_CONFIG=… python -m uvicorn --factory server_rig:fastapi_sample_reference

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def import_sample(sample: str, module: str) -> Any:
    """A fresh copy of the sample's module, configured by EDGECLAIMS_CONFIG as it is now."""
    import importlib.util

    path = SAMPLES / sample / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"edgeclaims_sample_{sample}", path)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def _sample_handoff() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What edgeclaims' middleware hands the samples' views, for the reference's claims."""
    from edgeclaims.engine import Outcome
    from edgeclaims.handoff import IDENTITY_KEY, OUTCOME_KEY
    from edgeclaims.identity import Identity

    # What each role the reference grants comes with: the samples' answers
    # (their edgeclaims.toml: admin includes viewer), built once.
    grants = {
        role: (frozenset(document["roles"]), frozenset(document["permissions"]))
        for role, document in (("viewer", VIEWER_DOCUMENT), ("admin", ADMIN_DOCUMENT))
    }
    known_roles, known_permissions = grants["admin"]
    source, key_id = VIEWER_DOCUMENT["source"], "demo"  # reference_verifier's one key

    def handoff(claims: dict[str, Any]) -> dict[str, Any]:
        granted = [grants[role] for role in claims.pop("roles")]
        identity = Identity(
            claims["sub"],
            claims,
            frozenset().union(*(roles for roles, _ in granted)),
            frozenset().union(*(permissions for _, permissions in granted)),
            source,
            key_id,
            known_roles=known_roles,
            known_permissions=known_permissions,
        )
        return {
            IDENTITY_KEY: identity,
            OUTCOME_KEY: Outcome(identity, None, None, source, key_id),
        }

    return handoff


def flask_sample_reference() -> Flask:
    """samples/flask_app as shipped, its edgeclaims middleware swapped for the reference."""
    from reference_verifier import ReferenceWSGI, Verifier, store_from_environment

    app: Flask = import_sample("flask_app", "app").app
    # EdgeClaims(app) wrapped app.wsgi_app; its refusal hook and decorators stay.
    inner = app.wsgi_app.wsgi_app  # type: ignore[attr-defined]
    verifier = Verifier(store_from_environment())
    app.wsgi_app = ReferenceWSGI(inner, verifier, _sample_handoff())  # type: ignore[method-assign]
    return app


def fastapi_sample_reference() -> Any:
    """samples/fastapi_app as shipped, its edgeclaims middleware swapped for the reference."""
    from reference_verifier import ReferenceASGI, Verifier, store_from_environment

    from edgeclaims.asgi import EdgeClaimsMiddleware

    app = import_sample("fastapi_app", "main").app
    # setup_edgeclaims added the middleware (built on the first request); its
    # refusal handler and the views' dependencies stay.
    kept = [m for m in app.user_middleware if m.cls is not EdgeClaimsMiddleware]
    if len(kept) != len(app.user_middleware) - 1:
        raise RuntimeError("samples/fastapi_app: edgeclaims' middleware not found")
    app.user_middleware = kept
    return ReferenceASGI(app, Verifier(store_from_environment()), _sample_handoff())


# -- the Redis round trip, in the server ------------------------------------------------
#
# Issue #14's Redis budget compares the CPU the redis store adds to a server
# with a bare SET NX PX round trip's. Measured alone, in a process of its own,
# a round trip misses what it costs inside a threaded server: each socket
# send and receive releases the GIL, and under waitress --threads=4 another
# thread takes it each time. So the peer is also measured where the store
# runs: each twin behind a middleware that does nothing but one SET NX PX
# of a fresh key per request — redis-py under WSGI, redis.asyncio under ASGI,
# the clients the store uses there, with its timeouts — at the URL that
# EDGECLAIMS_PEER_REDIS_URL names.
#
#     python -m waitress --threads=4 --call server_rig:flask_redis_peer
#     python -m uvicorn --factory server_rig:fastapi_redis_peer

#: About the PX the stores set for the samples' 30 s signatures.
PEER_TTL_MS = 40_000


def _peer_keys() -> Callable[[], bytes]:
    """Fresh keys, as the store's are (a prefix and a hex digest's length)."""
    import itertools

    counter = itertools.count()
    prefix = f"bench:peer:{os.getpid()}:"
    return lambda: f"{prefix}{next(counter):064x}".encode()


class RedisPeerWSGI:
    """One bare redis-py SET NX PX round trip per request, then the app."""

    def __init__(self, app: Callable[..., Any], url: str) -> None:
        import redis

        self.app = app
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._key = _peer_keys()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self._client.execute_command("SET", self._key(), b"1", "NX", "PX", PEER_TTL_MS):
            raise RuntimeError("a fresh key was already set")
        return self.app(environ, start_response)


class RedisPeerASGI:
    """One bare redis.asyncio SET NX PX round trip per request, then the app."""

    def __init__(self, app: Callable[..., Any], url: str) -> None:
        self.app = app
        self._url = url
        self._client: Any = None
        self._key = _peer_keys()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if self._client is None:  # made on the server's loop
                import redis.asyncio

                self._client = redis.asyncio.Redis.from_url(
                    self._url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
            key = self._key()
            if not await self._client.execute_command("SET", key, b"1", "NX", "PX", PEER_TTL_MS):
                raise RuntimeError("a fresh key was already set")
        await self.app(scope, receive, send)


def flask_redis_peer() -> Flask:
    """The Flask twin behind :class:`RedisPeerWSGI`."""
    app = flask_twin()
    url = os.environ["EDGECLAIMS_PEER_REDIS_URL"]
    app.wsgi_app = RedisPeerWSGI(app.wsgi_app, url)  # type: ignore[method-assign]
    return app


def fastapi_redis_peer() -> RedisPeerASGI:
    """The FastAPI twin behind :class:`RedisPeerASGI`."""
    return RedisPeerASGI(fastapi_twin(), os.environ["EDGECLAIMS_PEER_REDIS_URL"])


# -- server processes -----------------------------------------------------------------


@dataclass(eq=False)
class Server:
    """One process in a process group of its own, on a free loopback port; ``stop`` ends it.

    ``argv`` may hold ``{port}``. ``sign`` gives the identity headers for a
    URL (signed now, a fresh nonce each call); ``estimates`` remembers the
    request rate seen at each connection count, to size the next burst.
    """

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path
    sign: Callable[[str], Mapping[str, str]] | None = None
    port: int = field(default_factory=lambda: free_port())
    estimates: dict[int, float] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [argument.format(port=self.port) for argument in self.argv],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """utime + stime so far: /proc/<pid>/stat sums every thread of the process."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3, state
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(5.0)
                return
            except subprocess.TimeoutExpired:
                continue


def free_port() -> int:
    """A loopback TCP port nobody listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> Callable[[], None]:
    """For Popen: the child gets SIGTERM when this process dies, even by SIGKILL (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def arrange() -> None:
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arrange


# -- wrk bursts -------------------------------------------------------------------------

# Each wrk thread takes every n-th pre-signed request and sends each once;
# done() reports one line. `wrapped` counts threads that ran out.
WRK_SCRIPT = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local data = file:read("*a")
  file:close()
  local stride, index = tonumber(args[2]), 0
  pool, position, wrapped = {}, 0, 0
  for one in data:gmatch("(.-\r\n\r\n)") do
    if index % stride == id then pool[#pool + 1] = one end
    index = index + 1
  end
end

function request()
  position = position + 1
  if position > #pool then position, wrapped = 1, 1 end
  return pool[position]
end

function done(summary, latency, requests)
  local wrapped = 0
  for _, thread in ipairs(threads) do wrapped = wrapped + thread:get("wrapped") end
  local e = summary.errors
  io.write(string.format(
    "edgeclaims-bench requests=%.0f duration_us=%.0f p50_us=%.1f p99_us=%.1f " ..
    "errors=%.0f status=%.0f wrapped=%.0f\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, wrapped))
end
"""


class BurstFailed(RuntimeError):
    """A burst got errors, a status ≥ 400, or needed more signed requests than it could."""


@dataclass(frozen=True)
class Burst:
    requests: int  # completed, as wrk counts them
    seconds: float
    cpu: float  # the server's CPU seconds over the burst
    p50: float  # seconds
    p99: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / self.requests


class Driver:
    """Timed wrk bursts (one wrk thread, keep-alive) of ``GET target`` at one server at a time."""

    def __init__(self, wrk: str, folder: Path, target: str):
        self.wrk, self.target = wrk, target
        self.script = folder / "bench.lua"
        self.script.write_text(WRK_SCRIPT)
        self.requests = folder / "requests.txt"

    def burst(self, server: Server, *, connections: int, seconds: int) -> Burst:
        """One burst; signed just before, enough for the rate seen so far, none sent twice."""
        seen = server.estimates.get(connections)
        rate = seen or (6000.0 if connections > 1 else 3500.0)
        count = math.ceil(rate * seconds * 1.4) + 200
        for _ in range(3):
            self._sign(server, count)
            burst, wrapped = self._run(server, connections, seconds)
            if not wrapped:
                server.estimates[connections] = max(burst.rate, seen or 0.0)
                return burst
            count *= 2  # it ran out, and sent some twice (refused): run again with more
        raise BurstFailed(f"{server.name}: more than {count // 2} requests in {seconds} s")

    def _sign(self, server: Server, count: int) -> None:
        """``count`` raw HTTP/1.1 requests, each signed now with its own nonce."""
        assert server.sign is not None
        authority = f"127.0.0.1:{server.port}"
        url = f"http://{authority}{self.target}"
        head = f"GET {self.target} HTTP/1.1\r\nHost: {authority}\r\n"
        with self.requests.open("w", encoding="latin-1", newline="") as out:
            for _ in range(count):
                lines = "".join(f"{n}: {v}\r\n" for n, v in server.sign(url).items())
                out.write(head + lines + "\r\n")

    def _run(self, server: Server, connections: int, seconds: int) -> tuple[Burst, bool]:
        command = [self.wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
        command += ["-s", str(self.script), f"http://127.0.0.1:{server.port}{self.target}"]
        command += ["--", str(self.requests), "1"]
        before = server.cpu_seconds()
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
        cpu = server.cpu_seconds() - before
        match = re.search(r"^edgeclaims-bench (.*)$", done.stdout, re.M)
        if done.returncode != 0 or match is None:
            raise BurstFailed(f"wrk against {server.name}: {done.stdout}{done.stderr}")
        figures = {k: float(v) for k, v in (pair.split("=") for pair in match[1].split())}
        wrapped = bool(figures["wrapped"])
        if not wrapped and (figures["errors"] or figures["status"] or not figures["requests"]):
            raise BurstFailed(f"{server.name}: {match[1]}\n{server.log.read_text()[-2000:]}")
        burst = Burst(
            requests=int(figures["requests"]),
            seconds=figures["duration_us"] / 1e6,
            cpu=cpu,
            p50=figures["p50_us"] / 1e6,
            p99=figures["p99_us"] / 1e6,
        )
        return burst, wrapped
