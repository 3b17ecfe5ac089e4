"""Reading the request body for a source that signs it, and handing it on untouched.

oauth2-proxy's ``GAP-Signature`` covers the body, so the body must be read
before the engine decides. Only then: each adapter asks
:meth:`Engine.body_limit_for <edgeclaims.engine.Engine.body_limit_for>`
only when :attr:`Engine.reads_body <edgeclaims.engine.Engine.reads_body>`,
and reads nothing when the source that decides does not sign the body.

What each function does, in one place for every adapter:

* reads at most the source's ``body_limit`` bytes (``max_body``); a body
  that is larger — by its ``Content-Length`` or once that many bytes came —
  sets ``view.problem`` to ``too_large``, and the app never runs;
* puts the bytes on ``view.body``; a body that could not be read whole (a
  client gone mid-body, an invalid ``Content-Length``) leaves it None, and
  the source refuses (fail closed);
* gives the app the body byte for byte: under WSGI a new ``wsgi.input``
  holding exactly the bytes read (``CONTENT_LENGTH`` kept consistent); under
  ASGI a ``receive`` that replays the ``http.request`` messages, then
  delegates to the server's (``http.disconnect``); under Django,
  ``request.body``, which Django keeps for the view.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from edgeclaims.errors import BodyTooLarge
from edgeclaims.request import RequestView

if TYPE_CHECKING:
    from edgeclaims.engine import Engine

__all__ = ["read_asgi_body", "read_django_body", "read_wsgi_body"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

_CHUNK = 65536


def _is_length(text: str) -> bool:
    # ASCII digits only: str.isdigit() also takes "²" (int() then raises) and
    # "٥" (int() reads 5) — a Content-Length no HTTP parser would accept.
    return text.isascii() and text.isdigit()


def _too_large(view: RequestView, why: str = "the request body is larger than max_body") -> None:
    if view.problem is None:
        view.problem = BodyTooLarge(why)


def read_wsgi_body(engine: Engine, view: RequestView, environ: MutableMapping[str, Any]) -> None:
    """Read the body for the deciding source, if it signs one, and put back a replay."""
    limit = engine.body_limit_for(view)
    if limit is None:
        return
    stream = environ.get("wsgi.input")
    length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        if not _is_length(length_text):
            return  # the body cannot be delimited: left unread, refused by the source
        length = int(length_text)
        if length > limit:
            _too_large(view)  # nothing read: the stream stays as the server made it
            return
        wanted = length
    elif environ.get("wsgi.input_terminated"):
        wanted = limit + 1  # read to the end (a chunked body), one byte past the limit
    else:
        # PEP 3333: no CONTENT_LENGTH, no body. What was verified is empty,
        # so that is all the app may read, whatever the server's stream holds.
        environ["wsgi.input"] = io.BytesIO(b"")
        view.body = b""
        return
    if stream is None:
        return
    chunks: list[bytes] = []
    read = 0
    complete = True
    try:
        while read < wanted:
            chunk = stream.read(min(_CHUNK, wanted - read))
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
    except Exception:  # a client gone mid-body: the server's own error type
        complete = False
    body = b"".join(chunks)
    if read > limit:
        _too_large(view)
        environ["wsgi.input"] = _Rewound(body, stream)  # the app only runs in monitor mode
        return
    environ["wsgi.input"] = io.BytesIO(body)
    if length_text and read != wanted:
        environ["CONTENT_LENGTH"] = str(read)  # the stream ended early: what the app can read
        complete = False
    if complete:
        view.body = body


async def read_asgi_body(
    engine: Engine, view: RequestView, scope: MutableMapping[str, Any], receive: Receive
) -> Receive:
    """Read the body for the deciding source, if it signs one; the ``receive`` to give the app."""
    limit = engine.body_limit_for(view)
    if limit is None:
        return receive
    if scope["type"] != "http":
        view.body = b""  # a WebSocket handshake has no body
        return receive
    # One buffer, not the messages: a body trickled a byte per TCP segment
    # arrives as a message per byte, each costing far more than its byte.
    body = bytearray()
    more = True  # whether the server still holds body for the app
    ended: MutableMapping[str, Any] | None = None  # http.disconnect, passed on after the body
    while True:
        message = await receive()
        if message.get("type") != "http.request":
            ended = message  # the body is not whole: view.body stays None
            break
        body += message.get("body", b"")
        if len(body) > limit:
            _too_large(view)
            break
        if not message.get("more_body", False):
            more = False
            view.body = bytes(body)
            break
    pending: deque[MutableMapping[str, Any]] = deque()
    if body or ended is None:
        pending.append({"type": "http.request", "body": bytes(body), "more_body": more})
    if ended is not None:
        pending.append(ended)
    del body

    async def replay() -> MutableMapping[str, Any]:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


def read_django_body(engine: Engine, view: RequestView, request: Any) -> None:
    """The body for the deciding source, through ``request.body`` (which Django keeps).

    Django's own limit applies first: a ``Content-Length`` over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` makes ``request.body`` raise
    ``RequestDataTooBig``, which is ``too_large`` here too — the body is
    never read past what Django would read for the view.
    """
    limit = engine.body_limit_for(view)
    if limit is None:
        return
    from django.core.exceptions import RequestDataTooBig

    length_text = str(request.META.get("CONTENT_LENGTH") or "").strip()
    if length_text and not _is_length(length_text):
        return
    if length_text and int(length_text) > limit:
        _too_large(view)
        return
    try:
        body = request.body
    except RequestDataTooBig:
        _too_large(view, "the request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE")
        return
    except Exception:  # UnreadablePostError, a client gone: unread, refused by the source
        return
    if len(body) > limit:
        _too_large(view)
        return
    view.body = bytes(body)


class _Rewound(io.RawIOBase):
    """The bytes already read, then the rest of the server's stream (WSGI ``read``/``readline``)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        super().__init__()
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
