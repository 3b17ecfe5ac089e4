"""Sources: one module per wire format, each turning a request into verified claims.

A source is built once from its ``[[edgeclaims.sources]]`` table and is
immutable afterwards. Per request the engine asks each source, in order,
whether its header is present; the first that says yes decides, and its
``verify`` either returns an :class:`Assertion` or raises a
``VerificationError`` — it never falls through to the next source.
"""

from __future__ import annotations

import importlib
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from edgeclaims.config_table import Table
from edgeclaims.errors import IncompleteClaims
from edgeclaims.keys import Key
from edgeclaims.request import RequestView

#: Called with (step, what passed) by ``verify`` when explaining (``edgeclaims verify``).
Trace = Callable[[str, str], None]

__all__ = [
    "MAX_SUBJECT_LENGTH",
    "Assertion",
    "ReplayTicket",
    "Source",
    "Trace",
    "parse_source_config",
    "read_optional_subject_settings",
    "read_subject_settings",
    "subject_of",
]

#: The longest subject accepted: an identifier, not a document.
MAX_SUBJECT_LENGTH = 1024

#: Source type → module that implements it (imported only when configured).
SOURCE_MODULES = {
    "rfc9421": "edgeclaims.sources.rfc9421",
    "jws": "edgeclaims.sources.jws",
    "gcp-iap": "edgeclaims.sources.gcp_iap",
    "cloudflare-access": "edgeclaims.sources.cloudflare_access",
    "pomerium": "edgeclaims.sources.pomerium",
    "aws-alb": "edgeclaims.sources.aws_alb",
    "oauth2-proxy": "edgeclaims.sources.oauth2_proxy",
    "azure-easyauth": "edgeclaims.sources.azure_easyauth",
}


class ReplayTicket(NamedTuple):
    """What the replay store must see only once: ``(key id, nonce)`` for ``ttl`` seconds."""

    key_id: str
    nonce: str
    ttl: float


class Assertion(NamedTuple):
    """Claims whose signature and time checks passed; replay is checked by the engine.

    ``subject`` is who the claims name (:func:`subject_of`); the engine
    refuses an assertion whose subject is None.
    """

    claims: dict[str, Any]
    key_id: str | None
    replay: ReplayTicket | None = None
    subject: str | None = None


def read_subject_settings(table: Table) -> tuple[str, tuple[str, ...]]:
    """``subject_claim`` (default ``sub``) and ``required_claims`` (default none) of a source."""
    subject_claim = table.str("subject_claim", "sub")
    if not subject_claim:
        raise table.error("subject_claim", "must name a claim")
    return subject_claim, _required_claims(table)


def read_optional_subject_settings(table: Table) -> tuple[str | None, tuple[str, ...]]:
    """``subject_claim`` (None when not set: the source's own default) and ``required_claims``."""
    subject_claim = table.optional_str("subject_claim")
    if subject_claim is not None and not subject_claim:
        raise table.error("subject_claim", "must name a claim")
    return subject_claim, _required_claims(table)


def _required_claims(table: Table) -> tuple[str, ...]:
    required = tuple(table.str_list("required_claims", ()))
    for index, name in enumerate(required):
        if not name:
            raise table.error(f"required_claims[{index}]", "must name a claim")
    return required


def subject_of(
    claims: Mapping[str, Any], subject_claim: str | None, required_claims: tuple[str, ...] = ()
) -> str:
    """The subject of verified claims; raises ``IncompleteClaims`` when they name no one.

    The subject is the ``subject_claim`` member: a non-blank string of at
    most :data:`MAX_SUBJECT_LENGTH` characters without control characters
    (a ``sub`` of ``5`` or ``""`` is no one; a line break in it forges log
    lines). Every ``required_claims`` member must be present and not null.
    ``subject_claim`` None (RFC 9421 Appendix B vectors only) asks for none.
    """
    for name in required_claims:
        if claims.get(name) is None:
            raise IncompleteClaims(f"the claims lack the required claim {name!r}")
    if subject_claim is None:
        return ""
    value = claims.get(subject_claim)
    if not isinstance(value, str) or not value.strip():
        raise IncompleteClaims(f"the claims hold no {subject_claim!r} string")
    if len(value) > MAX_SUBJECT_LENGTH or (
        not value.isprintable() and any(unicodedata.category(c) == "Cc" for c in value)
    ):
        raise IncompleteClaims(f"the {subject_claim!r} claim is too long or has control characters")
    return value


class Source(ABC):
    """One configured wire format."""

    #: The configured type (``rfc9421``, ``jws``, …).
    type: str
    #: A unique name, used as the replay scope and in logs (defaults to the type).
    name: str
    #: True for a header nobody signed (``azure-easyauth``): trusted for its
    #: sender alone, so ``trusted_peers`` is checked on every route for it.
    unsigned: bool = False
    #: (refusal code, what to check) pairs that ``edgeclaims verify`` prints.
    hints: tuple[tuple[str, str], ...] = ()

    @property
    @abstractmethod
    def trigger_headers(self) -> tuple[str, ...]:
        """Lower-cased headers whose presence means this source must decide."""

    @property
    @abstractmethod
    def stripped_headers(self) -> tuple[str, ...]:
        """Lower-cased headers removed before the app sees the request.

        A name ending in ``*`` stands for every header beginning with the rest
        (``x-pomerium-claim-*``; :class:`~edgeclaims.handoff.IdentityHeaders`).
        """

    @property
    def configured_keys(self) -> tuple[Key, ...]:
        """The keys fixed by the configuration (not those a JWKS URL serves)."""
        return ()

    @property
    def body_limit(self) -> int | None:
        """The most body bytes this source verifies (GAP-Signature); None: it never reads the body.

        When set, the adapters read the body before deciding — at most this
        many bytes, more is ``too_large`` — put it on ``RequestView.body``
        and replay it to the app byte for byte (:mod:`edgeclaims.body`).
        """
        return None

    def risks(self) -> tuple[tuple[str, str], ...]:
        """Valid but risky choices of this source's configuration: (warning id, why).

        ``edgeclaims check`` and Django's system checks show them
        (:func:`~edgeclaims.config.config_warnings`).
        """
        return ()

    def refusal_hint(self, code: str) -> str | None:
        """What to check when this source refuses with ``code`` (``edgeclaims verify``), or None."""
        return next((hint for hint_code, hint in self.hints if hint_code == code), None)

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
