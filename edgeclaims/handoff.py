"""What every adapter does with the engine's outcome, defined once.

The WSGI and ASGI middleware and the Flask and Django integrations all
remove the raw identity headers before the application runs (whatever the
verdict, in every spelling the server may keep), put the outcome where the
application and the integrations look for it, and send
:func:`~edgeclaims.problem.render_refusal`'s response when refused.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from edgeclaims.request import wsgi_header_key

__all__ = ["IDENTITY_KEY", "OUTCOME_KEY", "IdentityHeaders"]

#: ``environ`` / ``scope`` / ``request.META`` key of the verified Identity (or None).
IDENTITY_KEY = "edgeclaims.identity"
#: The same for the whole :class:`~edgeclaims.engine.Outcome` (integrations reuse it).
OUTCOME_KEY = "edgeclaims.outcome"


class IdentityHeaders:
    """The headers no application may read, and how to remove them from a request."""

    __slots__ = ("environ_keys", "environ_prefixes", "scope_names", "scope_prefixes")

    def __init__(self, names: Iterable[str]) -> None:
        names = tuple(names)
        # A name ending in "*" stands for every header it begins (a provider's
        # unsigned per-claim headers, X-Pomerium-Claim-*).
        prefixes = tuple(name[:-1] for name in names if name.endswith("*"))
        names = tuple(name for name in names if not name.endswith("*"))
        #: WSGI environ keys (``HTTP_X_EDGE_CLAIMS``): underscores and dashes are one key there.
        self.environ_keys = tuple(wsgi_header_key(name) for name in names)
        #: Beginnings of environ keys removed whole (``HTTP_X_POMERIUM_CLAIM_``).
        self.environ_prefixes = tuple(wsgi_header_key(prefix) for prefix in prefixes)
        #: Lower-cased names as ASGI servers send them, compared with ``_`` read as ``-``.
        self.scope_names = frozenset(name.encode("latin-1") for name in names)
        #: Beginnings of lower-cased names removed whole, compared the same way.
        self.scope_prefixes = tuple(prefix.encode("latin-1") for prefix in prefixes)

    def strip_environ(self, environ: MutableMapping[str, Any]) -> None:
        """Remove them from a WSGI environ (or Django's ``request.META``)."""
        for key in self.environ_keys:
            environ.pop(key, None)
        if self.environ_prefixes:
            for key in [k for k in environ if k.startswith(self.environ_prefixes)]:
                del environ[key]

    def strip_scope_headers(
        self, headers: Iterable[tuple[bytes, bytes]]
    ) -> list[tuple[bytes, bytes]]:
        """An ASGI header list without them, in any spelling (``x_edge_claims`` too)."""
        names = self.scope_names
        prefixes = self.scope_prefixes
        if prefixes:
            return [
                (n, v)
                for n, v in headers
                if (folded := n.lower().replace(b"_", b"-")) not in names
                and not folded.startswith(prefixes)
            ]
        return [(n, v) for n, v in headers if n.lower().replace(b"_", b"-") not in names]
