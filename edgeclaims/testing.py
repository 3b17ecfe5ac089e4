"""Helpers for testing your own views behind edgeclaims.

    from edgeclaims.testing import EdgeSigner

    signer = EdgeSigner.for_config(config)              # uses the config's HMAC key
    headers = signer.headers("GET", "https://app.example.com/whoami",
                             {"sub": "alice", "groups": ["okta-admins"]})
    client.get("/whoami", headers=headers)               # Flask, Django, httpx, requests …

    environ = signer.wsgi_environ("GET", "https://app.example.com/whoami", claims)
    scope = signer.asgi_scope("GET", "https://app.example.com/whoami", claims)

``ProviderTokens`` mints tokens shaped like Google IAP's, Cloudflare Access's,
Pomerium's and AWS ALB's, for the ``gcp-iap``, ``cloudflare-access``,
``pomerium`` and ``aws-alb`` sources (:mod:`edgeclaims.testing_providers`).
:func:`akamai_g2o_headers` gives the two headers Akamai adds for an ``[edgeclaims.origin_gate]``.
:func:`easyauth_principal` gives Azure App Service's (unsigned)
``X-MS-CLIENT-PRINCIPAL`` for the ``azure-easyauth`` source.
:func:`gap_signature` gives the ``GAP-Signature`` oauth2-proxy would add,
for the ``oauth2-proxy`` source.

A pytest fixture, ``edgeclaims_signer``, is registered by the
``edgeclaims.pytest_plugin`` module (``pytest -p edgeclaims.pytest_plugin``
or ``pytest_plugins = ["edgeclaims.pytest_plugin"]`` in your conftest).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from edgeclaims.config import Config, load_config
from edgeclaims.signer import SigningKey, sign_request
from edgeclaims.sources.rfc9421 import RFC9421Source
from edgeclaims.testing_providers import ProviderTokens, easyauth_principal, gap_signature

__all__ = [
    "EdgeSigner",
    "ProviderTokens",
    "akamai_g2o_headers",
    "easyauth_principal",
    "gap_signature",
]


class EdgeSigner:
    """Sign requests the way the edge does, for one RFC 9421 source's profile."""

    def __init__(
        self,
        key: SigningKey,
        *,
        claims_header: str = "X-Edge-Claims",
        tag: str | None = "edgeclaims",
        components: Sequence[str] | None = None,
        path_form: str = "exact",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.claims_header = claims_header
        self.tag = tag
        self.components = tuple(components) if components else None
        self.path_form = path_form
        self.clock = clock

    @classmethod
    def for_config(
        cls,
        config: Config | Mapping[str, object] | str | None = None,
        *,
        key_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> EdgeSigner:
        """A signer for the first ``rfc9421`` source of ``config``, using one of its HMAC keys.

        Asymmetric keys have no private half in the origin's configuration:
        build ``EdgeSigner(load_signing_key(...))`` with the edge's key instead.
        """
        loaded = load_config(config)
        for source in loaded.sources:
            if not isinstance(source, RFC9421Source):
                continue
            for key in source.keys.values():
                if key.kind == "secret" and key_id in (None, key.id):
                    assert isinstance(key.material, bytes)
                    return cls(
                        SigningKey(key.id, key.alg, key.material),
                        claims_header=source.claims_header,
                        tag=source.tag,
                        components=_components_for(source),
                        path_form=source.path_form,
                        clock=clock,
                    )
        raise LookupError("the configuration has no rfc9421 source with a usable HMAC key")

    def headers(
        self,
        method: str,
        url: str,
        claims: Mapping[str, object] | None,
        *,
        headers: Mapping[str, str] | None = None,
        created: int | None = None,
        expires: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The identity headers the edge would add to this request."""
        return sign_request(
            method,
            url,
            claims,
            self.key,
            headers=headers,
            claims_header=self.claims_header,
            components=self.components,
            created=int(self.clock()) if created is None else created,
            expires=expires,
            nonce=nonce,
            tag=self.tag,
            path_form=self.path_form,
        )

    def wsgi_environ(
        self,
        method: str,
        url: str,
        claims: Mapping[str, object] | None,
        *,
        headers: Mapping[str, str] | None = None,
        **signing: Any,
    ) -> dict[str, Any]:
        """A complete WSGI environ for a signed request (raw URI in ``REQUEST_URI``)."""
        extra = dict(headers or {})
        signed = self.headers(method, url, claims, headers=extra, **signing)
        return build_wsgi_environ(method, url, {**extra, **signed})

    def asgi_scope(
        self,
        method: str,
        url: str,
        claims: Mapping[str, object] | None,
        *,
        headers: Mapping[str, str] | None = None,
        **signing: Any,
    ) -> dict[str, Any]:
        """An ASGI http scope for a signed request (``raw_path`` set as the edge sent it)."""
        extra = dict(headers or {})
        signed = self.headers(method, url, claims, headers=extra, **signing)
        return build_asgi_scope(method, url, {**extra, **signed})


def akamai_g2o_headers(
    url: str,
    key_name: str,
    secret: str | bytes,
    *,
    version: int = 5,
    sign_string: str = "path_and_query",
    edge_ip: str = "192.0.2.10",
    client_ip: str = "198.51.100.20",
    clock: Callable[[], float] = time.time,
) -> dict[str, str]:
    """The ``X-Akamai-G2O-Auth-Data`` and ``-Sign`` headers Akamai adds, for ``url``.

    ``secret`` is the key's text as Akamai's property shows it (str) or its
    bytes; ``sign_string`` as the gate's setting (``"path_and_query"`` or
    ``"path"``, raw as in ``url``). Each call has its own unique id, so a
    test may send many requests within the window without a replay.
    """
    import secrets

    from edgeclaims.origin_gate import g2o_signature

    parts = urlsplit(url)
    signed = parts.path or "/"
    if sign_string == "path_and_query" and "?" in url:
        signed += "?" + parts.query
    unique = f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**9)}"
    data = f"{version}, {edge_ip}, {client_ip}, {int(clock())}, {unique}, {key_name}"
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return {
        "X-Akamai-G2O-Auth-Data": data,
        "X-Akamai-G2O-Auth-Sign": g2o_signature(version, key, data, signed),
    }


def _components_for(source: RFC9421Source) -> tuple[str, ...]:
    components = list(source.required_components)
    if "@authority" not in components:
        components.insert(1 if components[:1] == ["@method"] else 0, "@authority")
    return tuple(components)


def build_wsgi_environ(method: str, url: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """A PEP 3333 environ for ``url`` as a front end such as waitress would build it."""
    import io

    from edgeclaims.request import wsgi_header_key

    parts = urlsplit(url)
    host, _, port = parts.netloc.rpartition(":") if ":" in parts.netloc else (parts.netloc, "", "")
    scheme = parts.scheme or "http"
    raw_path = parts.path or "/"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
        "QUERY_STRING": parts.query,
        "REQUEST_URI": raw_path + (f"?{parts.query}" if "?" in url else ""),
        "SERVER_NAME": host or parts.netloc,
        "SERVER_PORT": port or ("443" if scheme == "https" else "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": parts.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ[wsgi_header_key(name)] = value
    return environ


def build_asgi_scope(
    method: str, url: str, headers: Mapping[str, str] | Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """An ASGI http scope for ``url``; ``headers`` may repeat names as (name, value) pairs."""
    parts = urlsplit(url)
    raw_path = parts.path or "/"
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    if not any(name.lower() == "host" for name, _ in pairs):
        pairs.insert(0, ("host", parts.netloc))
    scheme = parts.scheme or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": parts.query.encode("latin-1"),
        "root_path": "",
        "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in pairs],
        "client": ("127.0.0.1", 50000),
        "server": (parts.hostname or "localhost", port),
    }
