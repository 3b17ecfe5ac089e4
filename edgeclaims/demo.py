"""``edgeclaims demo``: an edge and an origin on this machine, and a scripted story.

The origin is a small WSGI app (``/healthz``, ``/whoami``, ``/admin``)
wrapped in :class:`~edgeclaims.wsgi.EdgeClaimsMiddleware` and served by a real
HTTP server on 127.0.0.1. The edge is a small reverse proxy playing the
EdgeWorker's part: a demo identity provider knows two users, the edge strips
any identity header the client sent, signs the user's claims with the RFC
9421 profile and forwards the request. The story then shows what is
accepted and what is refused, and why. Nothing leaves the machine.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from edgeclaims.signer import SigningKey, sign_request
from edgeclaims.wsgi import EdgeClaimsMiddleware

__all__ = ["run_demo"]

#: The demo identity provider's users: who they are once the IdP says so.
USERS: dict[str, dict[str, object]] = {
    "alice": {"sub": "alice", "email": "alice@example.com", "groups": ["staff"]},
    "root": {"sub": "root", "email": "root@example.com", "groups": ["staff", "okta-admins"]},
}

#: Why each refusal happens, in words, for the story.
REASONS = {
    "missing": "no identity header: the request did not come through the edge",
    "bad_signature": "the signature does not match the request: something was changed",
    "replayed": "this exact signed request was already used once",
    "expired": "the signature is older than max_age",
    "forbidden": "verified, but the identity lacks the role this route needs",
    "unknown_key": "signed with a key the origin does not know",
}

CONFIG_TEMPLATE = """\
[edgeclaims]
public_paths = ["/healthz"]

[[edgeclaims.sources]]
type = "rfc9421"
max_age = 30
keys = [{{ id = "demo", alg = "hmac-sha256", secret = "{secret}" }}]

[edgeclaims.replay]
store = "memory"

[edgeclaims.roles]
admin = ["groups=okta-admins"]
staff = ["groups=staff"]

[edgeclaims.permissions]
admin = ["users:manage"]
staff = ["orders:read"]

[edgeclaims.routes]
"/healthz" = "public"
"/admin" = ["admin"]
"""


def origin_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The demo application: three routes, the identity from edgeclaims."""
    identity = environ.get("edgeclaims.identity")
    path = environ.get("PATH_INFO", "/")
    if path == "/healthz":
        return _json(start_response, 200, {"status": "ok"})
    if identity is None:
        return _json(start_response, 401, {"error": "anonymous"})
    if path == "/whoami":
        return _json(
            start_response,
            200,
            {
                "sub": identity.subject,
                "roles": sorted(identity.roles),
                "permissions": sorted(identity.permissions),
                "source": identity.source,
            },
        )
    if path == "/admin":
        if not identity.has_role("admin"):  # enforced in the view too, not only by routes
            return _json(start_response, 403, {"error": "admin only"})
        return _json(start_response, 200, {"admin": True, "sub": identity.subject})
    return _json(start_response, 404, {"error": "not found"})


def _json(start_response: Callable[..., Any], status: int, document: object) -> list[bytes]:
    body = json.dumps(document).encode()
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class DemoEdge:
    """A reverse proxy in the EdgeWorker's role: authenticate, strip, sign, forward."""

    STRIPPED = ("x-edge-claims", "signature", "signature-input", "x-edge-jwt", "x-original-url")

    def __init__(self, key: SigningKey, origin_port: int) -> None:
        self.key = key
        self.origin_port = origin_port

    def sign(self, method: str, path: str, user: str | None, **options: Any) -> dict[str, str]:
        """The headers the edge adds for ``user`` (nothing for an anonymous visitor)."""
        if user is None:
            return {}
        url = f"http://127.0.0.1:{self.origin_port}{path}"
        return sign_request(method, url, USERS[user], self.key, **options)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        # The demo IdP: the session is a cookie naming the user.
        cookie = environ.get("HTTP_COOKIE", "")
        user = next(
            (part.split("=", 1)[1] for part in cookie.split("; ") if part.startswith("demo_user=")),
            None,
        )
        user = user if user in USERS else None
        path = environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
            and key[5:].replace("_", "-").lower() not in self.STRIPPED
            and key not in ("HTTP_HOST", "HTTP_COOKIE")
        }
        headers.update(self.sign(environ["REQUEST_METHOD"], path, user))
        status, reply_headers, body = _forward(
            self.origin_port, environ["REQUEST_METHOD"], path, headers
        )
        start_response(status, reply_headers)
        return [body]


def _forward(
    port: int, method: str, path: str, headers: Mapping[str, str]
) -> tuple[str, list[tuple[str, str]], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, headers=dict(headers))
        response = connection.getresponse()
        body = response.read()
        kept = [
            (k, v)
            for k, v in response.getheaders()
            if k.lower() in ("content-type", "content-length")
        ]
        return f"{response.status} {response.reason}", kept, body
    finally:
        connection.close()


class _QuietHandler(WSGIRequestHandler):
    """The story prints its own lines; the server's access log would interleave."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _serve(app: Any, port: int) -> BaseWSGIServer:
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_demo(out: TextIO, *, once: bool, port: int = 0) -> int:
    """Start edge and origin, tell the story, then keep serving unless ``once``."""
    # The story explains each decision; keep the decision log out of the way.
    decision_log = logging.getLogger("edgeclaims")
    decision_log.addHandler(logging.NullHandler())
    decision_log.propagate = False
    secret = secrets.token_bytes(32)
    folder = Path(tempfile.mkdtemp(prefix="edgeclaims-demo-"))
    config_path = folder / "edgeclaims.toml"
    config_path.write_text(CONFIG_TEMPLATE.format(secret="hex:" + secret.hex()), encoding="utf-8")

    origin = _serve(EdgeClaimsMiddleware(origin_app, str(config_path)), port)
    edge = DemoEdge(SigningKey("demo", "hmac-sha256", secret), origin.server_port)
    edge_server = _serve(edge, 0)
    o_port, e_port = origin.server_port, edge_server.server_port
    out.write(
        f"origin (IIS stand-in, edgeclaims) on http://127.0.0.1:{o_port}  config {config_path}\n"
    )
    out.write(f"edge (EdgeWorker stand-in)        on http://127.0.0.1:{e_port}\n\n")

    failures = 0
    try:
        failures = _story(out, edge, e_port, o_port)
        if once:
            return 1 if failures else 0
        out.write("\nBoth are still running. Try:\n")
        out.write(f"  curl -b demo_user=alice http://127.0.0.1:{e_port}/whoami\n")
        out.write(f"  curl -b demo_user=root  http://127.0.0.1:{e_port}/admin\n")
        out.write(f"  curl http://127.0.0.1:{o_port}/whoami          # straight to the origin\n")
        out.write(
            "  edgeclaims sign --config "
            + str(config_path)
            + f' --url http://127.0.0.1:{o_port}/whoami --claims \'{{"sub":"bob"}}\'\n'
        )
        out.write("Press Ctrl+C to stop.\n")
        out.flush()
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        out.write("\nstopped\n")
        return 0
    finally:
        edge_server.shutdown()
        origin.shutdown()


def _story(out: TextIO, edge: DemoEdge, e_port: int, o_port: int) -> int:
    captured = edge.sign("GET", "/whoami", "alice")
    tampered = dict(edge.sign("GET", "/whoami", "alice"))
    tampered["X-Edge-Claims"] = sign_request("GET", "http://x/", USERS["root"], edge.key)[
        "X-Edge-Claims"
    ]
    steps: list[tuple[str, int, str, dict[str, str], str | None, int]] = [
        ("anonymous visitor, public health check", e_port, "/healthz", {}, None, 200),
        ("alice signs in (viewer) and asks who she is", e_port, "/whoami", {}, "alice", 200),
        ("alice tries the admin page", e_port, "/admin", {}, "alice", 403),
        ("root signs in (admin) and opens the admin page", e_port, "/admin", {}, "root", 200),
        (
            "a client forges X-Edge-Claims through the edge (the edge strips it)",
            e_port,
            "/whoami",
            {"X-Edge-Claims": tampered["X-Edge-Claims"]},
            None,
            401,
        ),
        (
            "a captured request replayed straight to the origin (first use)",
            o_port,
            "/whoami",
            captured,
            None,
            200,
        ),
        ("the same captured request replayed again", o_port, "/whoami", captured, None, 401),
        ("alice's claims swapped for root's in transit", o_port, "/whoami", tampered, None, 401),
        (
            "a signature made two minutes ago",
            o_port,
            "/whoami",
            edge.sign("GET", "/whoami", "alice", created=int(time.time()) - 120),
            None,
            401,
        ),
        ("a direct hit on the origin, bypassing the edge", o_port, "/whoami", {}, None, 401),
    ]
    failures = 0
    for number, (title, port, path, headers, user, expected) in enumerate(steps, 1):
        target = "edge" if port == e_port else "origin"
        if user:
            headers = {**headers, "Cookie": f"demo_user={user}"}
        status, _, body = _forward(port, "GET", path, headers)
        code = int(status.split()[0])
        mark = "ok " if code == expected else "!! "
        failures += code != expected
        out.write(f"{number:2}. {title}\n    GET {path} → {target}: {status}\n")
        try:
            document = json.loads(body)
        except ValueError:
            document = {}
        if "code" in document:
            reason = REASONS.get(document["code"], document.get("title", ""))
            out.write(f"    {mark}refused: {document['code']} — {reason}\n")
        else:
            out.write(f"    {mark}{json.dumps(document)}\n")
    out.write(f"\n{len(steps) - failures}/{len(steps)} steps behaved as expected\n")
    return failures
