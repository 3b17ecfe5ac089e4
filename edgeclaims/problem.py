"""The refusal response: RFC 9457 ``application/problem+json`` with the stable code."""

from __future__ import annotations

import json

from edgeclaims.errors import VerificationError

__all__ = ["problem_body", "problem_headers"]

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def problem_body(error: VerificationError) -> bytes:
    """The JSON body for a refusal: title, status and code — nothing from the request."""
    document = {
        "type": f"https://edgeclaims.dev/errors/{error.code}",
        "title": error.title,
        "status": error.status,
        "code": error.code,
    }
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def problem_headers(body: bytes) -> list[tuple[str, str]]:
    """Headers for a problem response (never cached: it is about one request)."""
    return [
        ("Content-Type", "application/problem+json"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ]


def status_line(status: int) -> str:
    """``401 Unauthorized`` and friends, for WSGI's ``start_response``."""
    return f"{status} {_REASONS.get(status, 'Error')}"
