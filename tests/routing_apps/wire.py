"""Requests as bytes on the wire, and as the environ / scope a server builds from them.

``edge_headers`` signs the exact method, raw path and raw query of a request
line, as the edge does (spec/signed-headers.md §1) — written here from the
spec rather than with ``edgeclaims.signer``, which upper-cases the method
(the differential needs ``post`` signed as ``post``). A test holds it to
``sign_request`` for upper-case methods.

``wsgi_environ`` and ``asgi_scope`` build what a server hands the app for a
raw request target: PEP 3333's ``PATH_INFO`` (the percent-decoded bytes as
latin-1) next to ``REQUEST_URI``/``RAW_URI``; ASGI's ``path`` decoded as
UTF-8 with replacement (uvicorn, hypercorn) next to ``raw_path``, with
``root_path`` prepended to both as uvicorn's ``--root-path`` does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import itertools
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from edgeclaims.signer import encode_claims
from routing_apps import HMAC_SECRET, HOST, KEY_ID, VIEW_HEADER

__all__ = [
    "Answer",
    "asgi_scope",
    "call_asgi",
    "call_wsgi",
    "edge_headers",
    "send_raw",
    "wsgi_environ",
]

COMPONENTS = ("@method", "@authority", "@path", "@query", "x-edge-claims")
_nonces = itertools.count()


def edge_headers(
    method: str,
    target: str,
    claims: Mapping[str, object],
    *,
    host: str = HOST,
    created: int | None = None,
    nonce: str | None = None,
) -> list[tuple[str, str]]:
    """The edge's identity headers for ``method target`` exactly as on the request line."""
    raw_path, sep, raw_query = target.partition("?")
    claims_value = encode_claims(claims)
    params = (
        "(" + " ".join(f'"{c}"' for c in COMPONENTS) + ")"
        f";created={int(time.time()) if created is None else created}"
        f';nonce="{nonce if nonce is not None else f"rt-{next(_nonces)}"}"'
        f';keyid="{KEY_ID}";alg="hmac-sha256";tag="edgeclaims"'
    )
    values = (method, host.lower(), raw_path or "/", "?" + (raw_query if sep else ""), claims_value)
    base = "".join(f'"{c}": {v}\n' for c, v in zip(COMPONENTS, values, strict=True))
    base += f'"@signature-params": {params}'
    signature = hmac.new(HMAC_SECRET, base.encode("latin-1"), hashlib.sha256).digest()
    return [
        ("X-Edge-Claims", claims_value),
        ("Signature-Input", f"edge={params}"),
        ("Signature", f"edge=:{base64.b64encode(signature).decode('ascii')}:"),
    ]


# -- in process -----------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What came back: the status, and the label of the view that ran (None: no view)."""

    status: int
    view: str | None
    #: The exception that escaped the app (in process) or why the server sent nothing.
    error: str | None = None


def wsgi_environ(
    method: str, target: str, headers: Iterable[tuple[str, str]], *, host: str = HOST
) -> dict[str, Any]:
    """The environ a WSGI server builds for ``method target HTTP/1.1`` (PEP 3333)."""
    raw_path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": query,
        "REQUEST_URI": target,
        "RAW_URI": target,
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def asgi_scope(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    *,
    host: str = HOST,
    root_path: str = "",
) -> dict[str, Any]:
    """The http scope uvicorn builds for ``method target HTTP/1.1`` (``--root-path`` too)."""
    raw_path, _, query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "root_path": root_path,
        "path": root_path + unquote(raw_path),
        "raw_path": (root_path + raw_path).encode("ascii"),
        "query_string": query.encode("ascii"),
        "headers": [
            (b"host", host.encode("ascii")),
            *((n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in headers),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }


def _label(headers: Iterable[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == VIEW_HEADER.lower():
            return value
    return None


def call_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> Answer:
    """Run one request through a WSGI app; an escaping exception is an answer too."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    try:
        body = app(environ, start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
    except Exception as exc:  # the app (or edgeclaims) raised: no response at all
        return Answer(500, None, f"{type(exc).__name__}: {exc}")
    status, headers = started[-1]
    return Answer(int(status.split()[0]), _label(headers))


ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def call_asgi(app: ASGIApp, scope: dict[str, Any]) -> Answer:
    """Run one request through an ASGI app, with a client that stays until the answer."""
    done = asyncio.Event()
    messages: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    try:
        await app(scope, receive, send)
    except Exception as exc:
        return Answer(500, None, f"{type(exc).__name__}: {exc}")
    finally:
        done.set()
    start = next((m for m in messages if m["type"] == "http.response.start"), None)
    if start is None:
        return Answer(500, None, "no response started")
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in start.get("headers", ())]
    return Answer(int(start["status"]), _label(headers))


# -- over a socket ------------------------------------------------------------------


def send_raw(
    port: int,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    *,
    host: str = HOST,
    timeout: float = 10.0,
) -> Answer:
    """Send exactly this request line and these header lines to 127.0.0.1:port; read the answer.

    One request per connection (``Connection: close``); the status line and
    the view header are read from the response head.
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += ["Connection: close", "", ""]
    data = "\r\n".join(lines).encode("latin-1")
    received = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except (ConnectionResetError, TimeoutError) as exc:
            if not received:
                return Answer(0, None, type(exc).__name__)
    head = bytes(received).partition(b"\r\n\r\n")[0].decode("latin-1")
    if not head.startswith("HTTP/"):
        return Answer(0, None, "connection closed without a response")
    status_line, *header_lines = head.split("\r\n")
    parsed = [tuple(line.split(":", 1)) for line in header_lines if ":" in line]
    return Answer(int(status_line.split()[1]), _label((n.strip(), v.strip()) for n, v in parsed))
