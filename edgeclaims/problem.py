"""The refusal response every adapter sends: RFC 9457 ``application/problem+json``.

One rendering for the WSGI and ASGI middleware and the Flask, Django and
FastAPI integrations, so a refusal is the same bytes whichever one answers.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from edgeclaims.errors import VerificationError

__all__ = ["AUTH_SCHEME", "REALM", "Refusal", "render_refusal", "status_line"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}

#: The authentication scheme named in ``WWW-Authenticate``: the credentials
#: are the edge's signed identity headers, not anything a browser can send.
AUTH_SCHEME = "EdgeClaims"
REALM = "edgeclaims"


class Refusal(NamedTuple):
    """Status, header lines and body of a refusal."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def render_refusal(error: VerificationError) -> Refusal:
    """The response for a refusal: title, status and code — nothing from the request.

    A 401 carries the ``WWW-Authenticate`` challenge RFC 9110 §15.5.2
    requires: ``EdgeClaims realm="edgeclaims"`` when no identity came, with
    ``error="<code>"`` (RFC 6750's parameter name) when one was refused.
    """
    document = {
        "type": f"https://edgeclaims.dev/errors/{error.code}",
        "title": error.title,
        "status": error.status,
        "code": error.code,
    }
    body = json.dumps(document, separators=(",", ":")).encode("ascii")
    headers = [
        ("Content-Type", "application/problem+json"),
        ("Content-Length", str(len(body))),
        # About one request only: never cached.
        ("Cache-Control", "no-store"),
    ]
    if error.status == 401:
        challenge = f'{AUTH_SCHEME} realm="{REALM}"'
        if error.code != "missing":
            challenge += f', error="{error.code}"'
        headers.append(("WWW-Authenticate", challenge))
    return Refusal(error.status, headers, body)


def status_line(status: int) -> str:
    """``401 Unauthorized`` and friends, for WSGI's ``start_response``."""
    return f"{status} {_REASONS.get(status, 'Error')}"
