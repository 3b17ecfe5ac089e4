"""One bounded GET of key material: how the JWKS and the PEM-per-kid clients fetch.

The URL was checked when the client was built (``https``, or ``http`` to a
loopback host). Here, for every fetch: no redirects (one could lead from
https to http or to another host, and a key endpoint is configured
exactly), no proxy for a loopback host, one deadline for the whole answer
(a server that trickles bytes must not hold a fetch lock for long), at most
``max_bytes`` read, and every failure one :class:`FetchFailed` whose
message is safe to log: it never quotes the answer.
"""

from __future__ import annotations

import asyncio
import http.client
import ssl
import time
import urllib.error
import urllib.request
from email.message import Message
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FetchFailed", "bounded_get", "is_loopback", "on_event_loop", "opener_for"]


class FetchFailed(Exception):
    """The endpoint gave no usable answer (message safe to log).

    ``status`` is the HTTP status when the server answered with one other
    than 200; ``too_large`` says the answer was longer than allowed.
    """

    def __init__(self, reason: str, *, status: int | None = None, too_large: bool = False):
        super().__init__(reason)
        self.status = status
        self.too_large = too_large


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def on_event_loop() -> bool:
    """Whether this thread runs an asyncio event loop: a fetch here would block it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def opener_for(url: str) -> urllib.request.OpenerDirector:
    """An opener that follows no redirect, and uses no proxy for a loopback host."""
    handlers: list[urllib.request.BaseHandler] = [
        _NoRedirect(),
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
    ]
    if is_loopback(urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def bounded_get(
    opener: urllib.request.OpenerDirector,
    url: str,
    *,
    accept: str,
    timeout: float,
    max_bytes: int,
    chunk_size: int = 65536,
) -> tuple[bytes, Message]:
    """The body and headers of a 200 answer to GET ``url``, or :class:`FetchFailed`."""
    request = urllib.request.Request(  # noqa: S310 - the client checked the scheme
        url, headers={"Accept": accept, "User-Agent": "edgeclaims"}
    )
    deadline = time.monotonic() + timeout
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise FetchFailed(f"HTTP status {response.status}", status=response.status)
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = response.read1(chunk_size)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise FetchFailed(f"the answer exceeds {max_bytes} bytes", too_large=True)
                if time.monotonic() > deadline:
                    raise FetchFailed("the answer took too long")
                chunks.append(chunk)
            if response.length:
                # Fewer bytes than Content-Length announced: cut short.
                raise FetchFailed("the answer ended before its Content-Length")
            headers: Message = response.headers
    except urllib.error.HTTPError as exc:
        raise FetchFailed(f"HTTP status {exc.code}", status=exc.code) from None
    except http.client.HTTPException as exc:
        # Not an OSError, yet as much an outage: http.client's answer to a
        # server that does not speak HTTP (BadStatusLine), a broken chunked
        # body (IncompleteRead), a line too long, more than 100 header
        # lines. The type only: the message may quote the answer.
        raise FetchFailed(f"the answer is not valid HTTP ({type(exc).__name__})") from None
    except (OSError, ValueError) as exc:
        # OSError: the socket and TLS layers (URLError is one).
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise FetchFailed(f"cannot connect: {reason}") from None
    return b"".join(chunks), headers
