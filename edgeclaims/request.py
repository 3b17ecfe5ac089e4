"""A framework-neutral view of one request, as the edge signed it.

Built from a WSGI environ or an ASGI scope. It answers the questions the
sources ask — method, authority, the *raw* path and query as they were on
the request line, header values — and refuses to guess when a header is
ambiguous (sent twice, or spelled with underscores where the server keeps
the spelling apart). It verifies nothing itself.

The IIS rules (reference/iis.md, "The path the signature binds"):

* the signed path is the raw one: ASGI ``raw_path``; WSGI ``UNENCODED_URL``
  (set by IIS itself), ``REQUEST_URI`` or ``RAW_URI``; only when none exists,
  ``SCRIPT_NAME + PATH_INFO`` re-encoded;
* the route path — what the application will route on — is what the server
  hands the app: ``SCRIPT_NAME + PATH_INFO``; under ASGI ``path``, which
  already holds ``root_path`` when it starts with it (Starlette's and
  Django's rule; uvicorn ``--root-path`` and ``FastAPI(root_path=…)`` both
  do this), else ``root_path + path``. It is the whole path the client
  asked for, the one the edge saw. When it does not decode to the same
  thing as the raw path, the signature would bind one path while the app
  serves another: ``problem`` says so and the engine refuses the request;
* ``X-Original-URL`` (wfastcgi swaps it into ``PATH_INFO``) is never a source
  of the signed path unless the deployment says IIS URL Rewrite sets it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from edgeclaims.errors import AmbiguousHeader, BindingMismatch, VerificationError

__all__ = ["RequestView", "normalize_path", "wsgi_header_key"]

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}
_RAW_URI_KEYS = ("UNENCODED_URL", "REQUEST_URI", "RAW_URI")


@functools.lru_cache(maxsize=256)
def wsgi_header_key(name: str) -> str:
    """The CGI environ key of a header (``X-Edge-Claims`` → ``HTTP_X_EDGE_CLAIMS``)."""
    lowered = name.lower()
    if lowered == "content-type":
        return "CONTENT_TYPE"
    if lowered == "content-length":
        return "CONTENT_LENGTH"
    return "HTTP_" + name.upper().replace("-", "_")


def normalize_path(raw_path: str) -> str:
    """The ``path_form = "normalized"`` spelling of a path (spec §1 rule 7).

    Percent-decode, then percent-encode every byte outside RFC 3986's
    unreserved set and ``/``, with upper-case hex — what both the edge and
    the origin can compute even when the origin only sees a decoded path.
    """
    return quote(unquote_to_bytes(raw_path), safe="/")


def _decoded(latin1: str) -> str:
    """A PEP 3333 path (bytes as latin-1) as text, the way Werkzeug and Django read it."""
    return (
        latin1
        if latin1.isascii()
        else latin1.encode("latin-1", "replace").decode("utf-8", "replace")
    )


def _whole_asgi_path(path: str, root_path: str) -> str:
    """The path the client asked for, from an ASGI ``path`` and ``root_path``.

    ``path`` holds ``root_path`` when it starts with it at a segment
    boundary — Starlette's ``get_route_path`` reads it so, and routes on
    the rest; otherwise it is relative to ``root_path`` (the older reading).
    """
    boundary = len(root_path)
    if root_path and path.startswith(root_path) and path[boundary : boundary + 1] in ("", "/"):
        return path
    return root_path + path


def _authority(host: str, scheme: str) -> str:
    host = host.strip().lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(":" + default) and not host.endswith("]"):
        host = host[: -len(default) - 1]
    return host


class RequestView:
    """Method, authority, raw path and query, and checked header look-ups of one request."""

    __slots__ = (
        "_body",
        "_headers",
        "_underscored",
        "_wsgi_environ",
        "authority",
        "method",
        "mounted_path",
        "peer",
        "problem",
        "raw_path",
        "raw_query",
        "route_path",
        "scheme",
    )

    def __init__(
        self,
        *,
        method: str,
        scheme: str,
        authority: str,
        raw_path: str,
        raw_query: str | None,
        route_path: str,
        peer: str | None,
        mounted_path: str | None = None,
        headers: Mapping[str, list[str]] | None = None,
        wsgi_environ: Mapping[str, Any] | None = None,
        problem: VerificationError | None = None,
    ) -> None:
        self.method = method
        self.scheme = scheme
        self.authority = authority
        #: The absolute path as on the request line, still percent-encoded; never empty.
        self.raw_path = raw_path or "/"
        #: The query without its ``?``; None when the request line had none.
        self.raw_query = raw_query
        #: The whole decoded path the client asked for (for route policy).
        self.route_path = route_path
        #: Under a mount prefix (``SCRIPT_NAME``, ``root_path``), the decoded
        #: path below it — what the framework's router matches; else None.
        self.mounted_path = mounted_path
        self.peer = peer
        #: Why the request itself cannot be trusted, whatever it carries: a
        #: path the app routes on that is not the request's, two Hosts.
        self.problem = problem
        self._headers = headers
        # Names that arrived with underscores, spelled with dashes.
        self._underscored = (
            frozenset(n.replace("_", "-") for n in headers if "_" in n) if headers else frozenset()
        )
        self._wsgi_environ = wsgi_environ

    # -- construction -------------------------------------------------------

    @classmethod
    def from_wsgi(
        cls, environ: Mapping[str, Any], *, trust_original_url: bool = False
    ) -> RequestView:
        """View a WSGI environ (wfastcgi, waitress, gunicorn, werkzeug, …)."""
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        host = environ.get("HTTP_HOST")
        if not host:
            host = f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        # PEP 3333: SCRIPT_NAME/PATH_INFO are the decoded bytes as latin-1.
        script_name = str(environ.get("SCRIPT_NAME", ""))
        path_info = str(environ.get("PATH_INFO", ""))
        routed = script_name + path_info
        route_bytes = routed.encode("latin-1", "replace")
        original_url = environ.get("HTTP_X_ORIGINAL_URL")
        problem: VerificationError | None = None

        raw_uri = None
        if original_url and trust_original_url:
            raw_uri = str(original_url)
        else:
            for key in _RAW_URI_KEYS:
                value = environ.get(key)
                if value:
                    raw_uri = str(value)
                    break
        if raw_uri is not None:
            raw_path, sep, raw_query = raw_uri.partition("?")
            query: str | None = raw_query if sep else None
            if not raw_path.startswith("/"):
                problem = BindingMismatch("the raw request path is not an absolute path")
            elif raw_path != routed and unquote_to_bytes(raw_path) != route_bytes:
                # wfastcgi swaps X-Original-URL into PATH_INFO: a client that
                # sends it makes the app serve a path nobody signed.
                problem = BindingMismatch(
                    "the path the application routes on differs from the request path"
                )
        else:
            raw_path = quote(route_bytes, safe="/;=,:@!$&'()*+")
            qs = environ.get("QUERY_STRING")
            query = str(qs) if qs else None
        if original_url and not trust_original_url and problem is None:
            original_path = str(original_url).partition("?")[0]
            if unquote_to_bytes(original_path) != unquote_to_bytes(raw_path):
                problem = BindingMismatch(
                    "X-Original-URL names another path than the one requested"
                )
        if problem is None and "," in str(host):
            # Servers join repeated lines with ", " (waitress): two Hosts.
            problem = AmbiguousHeader("the Host header arrived more than once")

        return cls(
            method=str(environ.get("REQUEST_METHOD", "GET")),
            scheme=scheme,
            authority=_authority(str(host), scheme),
            raw_path=raw_path,
            raw_query=query,
            route_path=_decoded(routed) or "/",
            peer=environ.get("REMOTE_ADDR"),
            mounted_path=(_decoded(path_info) or "/") if script_name else None,
            wsgi_environ=environ,
            problem=problem,
        )

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any]) -> RequestView:
        """View an ASGI http or websocket scope."""
        headers: dict[str, list[str]] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = raw_name.decode("latin-1").lower()
            values = headers.get(name)
            if values is None:
                headers[name] = [raw_value.decode("latin-1")]
            else:
                values.append(raw_value.decode("latin-1"))
        scheme = str(scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http"))
        problem: VerificationError | None = None
        host_values = headers.get("host")
        if host_values:
            host = host_values[-1]
            if len(host_values) > 1 or "," in host:
                # uvicorn with httptools passes both lines on: @authority
                # would bind one while Starlette's request.url uses the other.
                problem = AmbiguousHeader("the Host header arrived more than once")
        else:
            server = scope.get("server") or ("", None)
            host = f"{server[0]}:{server[1]}" if server[1] is not None else str(server[0])
        path = str(scope.get("path", "/"))
        root_path = str(scope.get("root_path", ""))
        routed = _whole_asgi_path(path, root_path)
        raw_path_bytes = scope.get("raw_path")
        if raw_path_bytes:
            raw_path = bytes(raw_path_bytes).decode("latin-1")
            # Some servers put the query in raw_path; the query is separate in ASGI.
            raw_path = raw_path.partition("?")[0]
            decoded = unquote_to_bytes(raw_path).decode("utf-8", "replace")
            if not raw_path.startswith("/"):
                # An absolute-form target (``GET http://host/admin``): WSGI
                # servers hand it over the same way, and it is refused there too.
                problem = BindingMismatch("the raw request path is not an absolute path")
            elif decoded not in (path, routed):
                # A proxy in front may or may not have kept root_path in the target.
                problem = BindingMismatch(
                    "the path the application routes on differs from the request path"
                )
        else:
            raw_path = quote(routed.encode("utf-8"), safe="/;=,:@!$&'()*+")
        query_bytes = scope.get("query_string", b"")
        client = scope.get("client")
        return cls(
            method=str(scope.get("method", "GET")),
            scheme=scheme,
            authority=_authority(host, scheme),
            raw_path=raw_path,
            raw_query=bytes(query_bytes).decode("latin-1") if query_bytes else None,
            route_path=routed or "/",
            peer=str(client[0]) if client else None,
            mounted_path=(routed[len(root_path) :] or "/") if root_path else None,
            headers=headers,
            problem=problem,
        )

    # -- the body -------------------------------------------------------------

    @property
    def body(self) -> bytes | None:
        """The request body, read by the adapter for a source that signs it; else None.

        Set only when the deciding source has a ``body_limit`` (GAP-Signature),
        so no other request pays for it: the slot stays unset until then.
        """
        try:
            return self._body
        except AttributeError:
            return None

    @body.setter
    def body(self, value: bytes | None) -> None:
        self._body = value

    # -- header look-ups ------------------------------------------------------

    def header_values(self, name: str) -> list[str]:
        """Every value of a header (lower-cased name), as separate field lines where known."""
        if self._headers is not None:
            return self._headers.get(name, [])
        value = self._environ_value(name)
        return [] if value is None else [value]

    def _environ_value(self, name: str) -> str | None:
        # A WSGI environ holds one value per name: the server already merged
        # repeats and underscore spellings (see wsgi.py).
        assert self._wsgi_environ is not None
        value = self._wsgi_environ.get(wsgi_header_key(name))
        return None if value is None else str(value)

    def field_value(self, name: str) -> str | None:
        """A header's value as RFC 9421 §2.1 covers it: lines trimmed, joined with ", "."""
        if self._headers is None:
            value = self._environ_value(name)
            return None if value is None else value.strip()
        values = self._headers.get(name)
        if not values:
            return None
        return values[0].strip() if len(values) == 1 else ", ".join(v.strip() for v in values)

    def header(self, name: str) -> str | None:
        """The single value of an identity header, or None when absent or empty.

        Raises ``AmbiguousHeader`` when the header arrived more than once, or
        (where the server keeps the spelling) also with underscores.
        """
        if self._headers is None:
            value = self._environ_value(name)
            return (value.strip() or None) if value is not None else None
        values = self._headers.get(name, [])
        # uvicorn and Starlette keep `x_edge_claims` apart from `x-edge-claims`;
        # a WSGI environ would merge them (CVE-2015-0219 class). Any
        # underscore spelling of an identity header is refused.
        if name in self._underscored:
            raise AmbiguousHeader(f"header {name} also arrived spelled with underscores")
        if len(values) > 1:
            raise AmbiguousHeader(f"header {name} arrived more than once")
        if not values:
            return None
        value = values[0].strip()
        return value or None  # an empty identity header counts as missing

    def present(self, names: Iterable[str]) -> bool:
        """Whether any of these headers arrived non-empty, in any spelling.

        No ambiguity check here: the source that then reads the header does
        it, so an underscore-only spelling still selects the source and is
        refused there rather than passing as anonymous.
        """
        if self._headers is None:
            for name in names:
                value = self._environ_value(name)
                if value is not None and value.strip():
                    return True
            return False
        headers = self._headers
        for name in names:
            if name in self._underscored:
                return True
            for value in headers.get(name, ()):
                if value.strip():
                    return True
        return False

    # -- RFC 9421 derived components -----------------------------------------

    def path_for_signature(self, path_form: str) -> str:
        """``@path`` as the edge signed it: exact, or the normalized form."""
        if path_form == "normalized":
            return normalize_path(self.raw_path)
        return self.raw_path

    def query_for_signature(self) -> str:
        """``@query``: ``?`` and the raw query, ``?`` alone when there is none (RFC 9421 §2.2.7)."""
        return "?" + (self.raw_query or "")
