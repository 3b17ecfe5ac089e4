"""Real servers on loopback for the routing differential: one port, two twins.

Each server runs a *twin*: the bare app (no edgeclaims: the oracle of what
the server and the framework dispatch) and the same app guarded by
edgeclaims, chosen per request by the ``X-Routing-Twin: bare`` header, which
no signature covers and the guarded twin never reads. Servers start once,
answer one request per connection, and stop when their context ends.

waitress, werkzeug's server, uvicorn (``h11`` and ``httptools``) and hypercorn
run in threads of the test process; gunicorn (sync worker) runs as a child
process bound to a listening socket the test created (``fd://``), so there
is no race for a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from routing_apps import TESTS, TWIN_HEADER, routing_config

__all__ = [
    "asgi_twin",
    "gunicorn_server",
    "hypercorn_server",
    "make_django_asgi_twin",
    "make_django_wsgi_twin",
    "make_fastapi_twin",
    "make_flask_twin",
    "uvicorn_server",
    "waitress_server",
    "werkzeug_server",
    "wsgi_twin",
]

_WSGI_TWIN_KEY = "HTTP_" + TWIN_HEADER.upper().replace("-", "_")
_ASGI_TWIN_NAME = TWIN_HEADER.lower().encode("latin-1")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_twin(bare: WSGIApp, guarded: WSGIApp) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        chosen = bare if environ.pop(_WSGI_TWIN_KEY, None) == "bare" else guarded
        return chosen(environ, start_response)

    return app


def asgi_twin(bare: Any, guarded: Any) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (_ASGI_TWIN_NAME, b"bare") in scope.get("headers", ()):
            await bare(scope, receive, send)
        else:
            await guarded(scope, receive, send)

    return app


def make_flask_twin() -> WSGIApp:
    """gunicorn's entry point: ``routing_apps.servers:make_flask_twin()``."""
    from routing_apps.flask_app import make_flask_app

    return wsgi_twin(make_flask_app(), make_flask_app(routing_config()))


def make_django_wsgi_twin() -> WSGIApp:
    from routing_apps.django_app import make_django_wsgi

    return wsgi_twin(make_django_wsgi(), make_django_wsgi(routing_config()))


def make_fastapi_twin() -> Any:
    from routing_apps.fastapi_app import make_fastapi_app

    return asgi_twin(make_fastapi_app(), make_fastapi_app(routing_config()))


def make_django_asgi_twin() -> Any:
    from routing_apps.django_app import make_django_asgi

    return asgi_twin(make_django_asgi(), make_django_asgi(routing_config()))


# -- servers -----------------------------------------------------------------------


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def wait_until_serving(port: int, timeout: float = 20.0) -> None:
    """Until an HTTP answer comes back from 127.0.0.1:port (any status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                )
                if sock.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"no server answered on port {port}")


@contextmanager
def waitress_server(app: WSGIApp) -> Iterator[int]:
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    port = int(server.effective_port)  # type: ignore[union-attr]

    def serve() -> None:
        # close() from the test thread ends the select loop with an error on
        # the closed descriptor: that is how waitress stops here.
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        wait_until_serving(port)
        yield port
    finally:
        server.close()
        thread.join(timeout=10)


@contextmanager
def werkzeug_server(app: WSGIApp) -> Iterator[int]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        wait_until_serving(server.server_port)
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _no_control_socket() -> list[str]:
    """gunicorn ≥ 25.1 opens a control socket under $HOME unless told not to."""
    from gunicorn.config import KNOWN_SETTINGS

    names = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


@contextmanager
def gunicorn_server(app_spec: str) -> Iterator[int]:
    """gunicorn, sync worker, in a child process serving ``app_spec`` on a socket we made."""
    sock = _listening_socket()
    port = sock.getsockname()[1]
    fd = sock.fileno()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "sync",
            "--workers",
            "1",
            "--bind",
            f"fd://{fd}",
            *_no_control_socket(),
            "--log-level",
            "warning",
            "--graceful-timeout",
            "2",
            app_spec,
        ],
        pass_fds=(fd,),
        env=env,
        cwd=str(TESTS),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            wait_until_serving(port, timeout=30)
        except RuntimeError:
            process.kill()
            _, err = process.communicate(timeout=10)
            raise RuntimeError(f"gunicorn did not start: {err.decode(errors='replace')[-2000:]}")
        yield port
    finally:
        sock.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@contextmanager
def uvicorn_server(app: Any, *, http: str = "h11") -> Iterator[int]:
    import uvicorn

    sock = _listening_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http=http, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        wait_until_serving(port)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def hypercorn_server(app: Any) -> Iterator[int]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = _listening_socket()
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{os.dup(sock.fileno())}"]  # hypercorn owns (and closes) its copy
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve(app, config, shutdown_trigger=stop.wait, mode="asgi"))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until_serving(port)
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()
        sock.close()
