"""The least a verifier of the samples' requests must do, as a middleware: bench_servers' reference.

Issue #14 sets the samples' budgets as ratios to the bare app, and asks that
a budget no middleware can reach be shown so in the same run. The floor
(``server_rig.FloorWSGI``) is what a middleware pays to do nothing. This
module is the other end: a verifier hard-wired to the samples' one
configuration that keeps only the checks no verifier of these headers can
skip — one regular expression for the whole Signature-Input, the RFC 9421
signature base, HMAC-SHA256 compared in constant time, the ``created``
window, the claims decoded, the nonce recorded, the viewer role from
``groups`` — with nothing configurable, no route policy, no error
documents, no strict JSON and no underscore or repeated-header checks.
It is **not** a verifier to deploy; it exists so that each budget line can
say how much of the distance to the bare app verification itself takes.

Nonces go where the samples' stores put them: a set under a lock (memory),
or one autocommit upsert per request into a SQLite file in WAL mode with
``synchronous=NORMAL`` — the statement, schema and settings of edgeclaims'
store, but SQLite's own checkpoints (whose log grows without bound under
sustained writes from several threads; edgeclaims checkpoints it itself) —
on a connection per thread (WSGI) or on the event loop (ASGI).

Standard library only: the bench's server processes import it without
edgeclaims. ``EDGECLAIMS_REFERENCE_STORE`` names the store: ``memory``, or
the path of the SQLite file.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["ReferenceASGI", "ReferenceWSGI", "Verifier"]

#: The samples' demo key (edgeclaims.toml: "edgeclaims-demo-key-NOT-A-SECRET").
SECRET = b"edgeclaims-demo-key-NOT-A-SECRET"
MAX_AGE, LEEWAY = 30, 5
#: Signature-Input exactly as edgeclaims.testing.EdgeSigner writes it for the samples.
_INPUT = re.compile(
    r'edge=(\("@method" "@authority" "@path" "@query" "x-edge-claims"\)'
    r';created=([0-9]{1,12});nonce="([!#-\[\]-~]{1,64})";keyid="demo"'
    r';alg="hmac-sha256";tag="edgeclaims")'
)
_SIGNATURE = re.compile(r"edge=:([A-Za-z0-9+/]{43}=):")
_RECORD = (
    "INSERT INTO replay (key, expires) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET expires = excluded.expires WHERE replay.expires < ?"
)
#: What the samples answer for each role: the twins' documents (server_rig.py).
VIEWER_ROLES = {"viewers": "viewer", "admins": "admin"}


class Verifier:
    """Checks one request's three headers; ``claims`` or None."""

    def __init__(self, store: str) -> None:
        self._store = store
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()

    def claims(
        self,
        method: str,
        authority: str,
        path: str,
        query: str,
        claims_text: str | None,
        input_text: str | None,
        signature_text: str | None,
    ) -> dict[str, Any] | None:
        if claims_text is None or input_text is None or signature_text is None:
            return None
        signed = _INPUT.fullmatch(input_text)
        signature = _SIGNATURE.fullmatch(signature_text)
        if signed is None or signature is None:
            return None
        base = (
            f'"@method": {method}\n"@authority": {authority.lower()}\n"@path": {path}\n'
            f'"@query": ?{query}\n"x-edge-claims": {claims_text}\n"@signature-params": {signed[1]}'
        )
        expected = hmac.new(SECRET, base.encode("ascii", "replace"), "sha256").digest()
        if not hmac.compare_digest(expected, base64.b64decode(signature[1])):
            return None
        now = time.time()
        created = int(signed[2])
        if created > now + LEEWAY or now - created > MAX_AGE + LEEWAY:
            return None
        try:
            claims = json.loads(
                base64.urlsafe_b64decode(claims_text + "=" * (-len(claims_text) % 4))
            )
        except (binascii.Error, ValueError):
            return None
        if not isinstance(claims, dict) or not self._first_sighting(signed[3], now):
            return None
        groups = claims.get("groups")
        claims["roles"] = sorted(
            VIEWER_ROLES[g] for g in groups or () if isinstance(g, str) and g in VIEWER_ROLES
        )
        return claims

    def _first_sighting(self, nonce: str, now: float) -> bool:
        if self._store == "memory":
            with self._lock:
                if nonce in self._seen:
                    return False
                self._seen.add(nonce)
                return True
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = _connect(self._store)
        expires = now + MAX_AGE + 3 * LEEWAY + 1
        return connection.execute(_RECORD, (nonce.encode(), expires, now)).rowcount == 1


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS replay ("
        "key BLOB PRIMARY KEY NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
    )
    return connection


def store_from_environment() -> str:
    return os.environ.get("EDGECLAIMS_REFERENCE_STORE", "memory")


_HEADERS = ("HTTP_X_EDGE_CLAIMS", "HTTP_SIGNATURE_INPUT", "HTTP_SIGNATURE")


#: What a middleware puts in the environ or scope for verified claims: the
#: claims themselves, or (server_rig's sample factories) what the samples'
#: own views read — an Identity and an Outcome under edgeclaims' keys.
Handoff = Callable[[dict[str, Any]], dict[str, Any]]


def claims_only(claims: dict[str, Any]) -> dict[str, Any]:
    return {"edgeclaims.identity": claims}


class ReferenceWSGI:
    def __init__(
        self, app: Callable[..., Any], verifier: Verifier, handoff: Handoff = claims_only
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.handoff = handoff

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        claims_text, input_text, signature_text = (environ.pop(key, None) for key in _HEADERS)
        path, _, query = (environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).partition("?")
        claims = self.verifier.claims(
            environ["REQUEST_METHOD"],
            environ.get("HTTP_HOST", ""),
            path,
            query,
            claims_text,
            input_text,
            signature_text,
        )
        if claims is None:
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        environ.update(self.handoff(claims))
        return self.app(environ, start_response)


_NAMES = (b"x-edge-claims", b"signature-input", b"signature")


class ReferenceASGI:
    def __init__(
        self, app: Callable[..., Any], verifier: Verifier, handoff: Handoff = claims_only
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.handoff = handoff

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found: dict[bytes, str] = {}
        kept = []
        for name, value in scope["headers"]:
            if name in _NAMES or name == b"host":
                found[name] = value.decode("latin-1")
            if name not in _NAMES:
                kept.append((name, value))
        claims = self.verifier.claims(
            scope["method"],
            found.get(b"host", ""),
            scope["raw_path"].decode("latin-1"),
            scope["query_string"].decode("latin-1"),
            *(found.get(name) for name in _NAMES),
        )
        if claims is None:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        scope = dict(scope, headers=kept)
        scope.update(self.handoff(claims))
        await self.app(scope, receive, send)
