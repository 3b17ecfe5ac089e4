"""Real servers for tests: waitress (WSGI) and uvicorn (ASGI) on loopback, in threads."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

IDENTITY_FIELDS = ("sub", "roles", "source")


def wsgi_echo_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Answers with the identity edgeclaims attached, and what headers the app saw."""
    identity = environ.get("edgeclaims.identity")
    body = json.dumps(
        {
            "sub": identity.subject if identity else None,
            "roles": sorted(identity.roles) if identity else [],
            "source": identity.source if identity else None,
            "saw_identity_headers": [
                k
                for k in environ
                if k in ("HTTP_X_EDGE_CLAIMS", "HTTP_SIGNATURE", "HTTP_SIGNATURE_INPUT")
            ],
        }
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


async def asgi_echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    identity = scope.get("edgeclaims.identity")
    names = [n.decode().replace("_", "-") for n, _ in scope["headers"]]
    body = json.dumps(
        {
            "sub": identity.subject if identity else None,
            "roles": sorted(identity.roles) if identity else [],
            "source": identity.source if identity else None,
            "saw_identity_headers": [
                n for n in names if n in ("x-edge-claims", "signature", "signature-input")
            ],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextmanager
def waitress_server(app: Any) -> Iterator[int]:
    from waitress.server import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    port = server.effective_port  # type: ignore[union-attr]

    def serve() -> None:
        # close() from the test thread makes the select loop fail on a closed
        # descriptor: that is how waitress stops here, not an error.
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        _wait_for(port)
        yield int(port)
    finally:
        server.close()


@contextmanager
def uvicorn_server(app: Any) -> Iterator[int]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        _wait_for(port)
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_for(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def request(
    port: int, method: str, target: str, headers: list[tuple[str, str]], host: str
) -> tuple[int, dict[str, Any]]:
    """Send one request with exactly these header lines; returns (status, JSON body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()
