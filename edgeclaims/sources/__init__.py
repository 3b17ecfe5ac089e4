"""Sources: one module per wire format, each turning a request into verified claims.

A source is built once from its ``[[edgeclaims.sources]]`` table and is
immutable afterwards. Per request the engine asks each source, in order,
whether its header is present; the first that says yes decides, and its
``verify`` either returns an :class:`Assertion` or raises a
``VerificationError`` — it never falls through to the next source.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from edgeclaims.request import RequestView
from edgeclaims.settings import Table

#: Called with (step, what passed) by ``verify`` when explaining (``edgeclaims verify``).
Trace = Callable[[str, str], None]

__all__ = ["Assertion", "ReplayTicket", "Source", "Trace", "parse_source_config"]

#: Source type → module that implements it (imported only when configured).
SOURCE_MODULES = {
    "rfc9421": "edgeclaims.sources.rfc9421",
    "jws": "edgeclaims.sources.jws",
}


class ReplayTicket(NamedTuple):
    """What the replay store must see only once: ``(key id, nonce)`` for ``ttl`` seconds."""

    key_id: str
    nonce: str
    ttl: float


class Assertion(NamedTuple):
    """Claims whose signature and time checks passed; replay is checked by the engine."""

    claims: dict[str, Any]
    key_id: str | None
    replay: ReplayTicket | None = None


class Source(ABC):
    """One configured wire format."""

    #: The configured type (``rfc9421``, ``jws``, …).
    type: str
    #: A unique name, used as the replay scope and in logs (defaults to the type).
    name: str

    @property
    @abstractmethod
    def trigger_headers(self) -> tuple[str, ...]:
        """Lower-cased headers whose presence means this source must decide."""

    @property
    @abstractmethod
    def stripped_headers(self) -> tuple[str, ...]:
        """Lower-cased headers removed before the app sees the request."""

    @abstractmethod
    def verify(self, view: RequestView, now: float, trace: Trace | None = None) -> Assertion:
        """Verify the request's identity headers, or raise a ``VerificationError``.

        ``trace``, when given, is told each step that passed (for the CLI).
        """


def parse_source_config(table: Table, *, base_dir: Path, replay_enabled: bool) -> Source:
    """Build the source a ``[[edgeclaims.sources]]`` table describes."""
    source_type = table.str("type")
    module_name = SOURCE_MODULES.get(source_type)
    if module_name is None:
        known = ", ".join(sorted(SOURCE_MODULES))
        raise table.error("type", f"unknown source type {source_type!r}; known: {known}")
    module = importlib.import_module(module_name)
    source: Source = module.from_table(table, base_dir=base_dir, replay_enabled=replay_enabled)
    table.refuse_unknown()
    return source
