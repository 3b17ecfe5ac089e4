"""The one place that decides on a request (DESIGN.md steps 1–6).

Adapters (WSGI, ASGI, frameworks) build a :class:`RequestView`, call
:meth:`Engine.decide` (or ``adecide`` under asyncio, where the replay store
must not block the loop) and act on the :class:`Outcome`: either the
request goes on with an :class:`Identity` (or anonymously, where the route
is public), or it is refused with a status and a stable code. Nothing
escapes: a malformed header never becomes a 500.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

from edgeclaims.config import Config, load_config
from edgeclaims.errors import (
    AmbiguousRequest,
    Forbidden,
    IncompleteClaims,
    MalformedHeader,
    MissingIdentity,
    Replayed,
    ReplayStoreUnavailable,
    UntrustedPeer,
    VerificationError,
)
from edgeclaims.identity import Identity
from edgeclaims.logs import log_decision
from edgeclaims.replay import ReplayStore, build_replay_store
from edgeclaims.request import RequestView
from edgeclaims.sources import Assertion, Source, Trace

__all__ = ["Engine", "Outcome"]

logger = logging.getLogger("edgeclaims")

_DEFAULT = object()


class Outcome(NamedTuple):
    """The engine's verdict on one request (immutable; a NamedTuple for speed)."""

    #: The verified identity, or None (anonymous, or refused).
    identity: Identity | None
    #: The error that refuses the request; None when it may go on.
    refusal: VerificationError | None = None
    #: In monitor mode, the error that *would* have refused it.
    observed: VerificationError | None = None
    source: str | None = None
    key_id: str | None = None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def code(self) -> str | None:
        error = self.refusal or self.observed
        return error.code if error else None


#: A verified assertion waiting for its replay check: (source, assertion,
#: route requirement). A plain tuple: this is every request's path.
_Pending = tuple[Source, Assertion, Any]


class Engine:
    """Runs verification, replay, roles and route policy for one configuration."""

    def __init__(
        self,
        config: Config | Any = None,
        *,
        clock: Callable[[], float] = time.time,
        replay_store: ReplayStore | object | None = _DEFAULT,
    ) -> None:
        self.config: Config = load_config(config)
        self.clock = clock
        self.replay: ReplayStore | None = (
            build_replay_store(self.config.replay, clock=clock)
            if replay_store is _DEFAULT
            else replay_store  # type: ignore[assignment]
        )
        self.policy = self.config.policy
        self.sources = self.config.sources
        self.monitor = self.config.mode == "monitor"
        stripped: list[str] = []
        for source in self.sources:
            stripped.extend(h for h in source.stripped_headers if h not in stripped)
        #: Lower-cased headers no application ever sees.
        self.stripped_headers: tuple[str, ...] = tuple(stripped)
        self._peers = self.config.trusted_peers
        self._triggers = tuple((source, source.trigger_headers) for source in self.sources)
        #: Sources with an async preparation step (JWKS fetched off the loop).
        self._preparing = frozenset(s for s in self.sources if hasattr(s, "aprepare"))

    def with_public_routes(self, paths: tuple[str, ...]) -> Engine:
        """This engine, its replay store included, with these exact paths public first."""
        policy = self.policy.with_public_routes(paths)
        return Engine(
            dataclasses.replace(self.config, policy=policy),
            clock=self.clock,
            replay_store=self.replay,
        )

    # -- deciding -------------------------------------------------------------

    def decide(self, view: RequestView, trace: Trace | None = None) -> Outcome:
        """Decide on a request, synchronously; ``trace`` is told each step (CLI)."""
        step = self._verify(view, trace)
        if isinstance(step, Outcome):
            return self._log(view, step)
        first: bool | VerificationError = True
        ticket = step[1].replay
        if ticket is not None and self.replay is not None:
            try:
                first = self.replay.check_and_record(
                    step[0].name, ticket.key_id, ticket.nonce, ticket.ttl
                )
            except ReplayStoreUnavailable as exc:
                first = exc
            if trace:
                said = (
                    "unavailable"
                    if isinstance(first, VerificationError)
                    else "first sighting"
                    if first
                    else "seen before"
                )
                trace("replay", f"{self.replay.name} store: {said}")
        return self._log(view, self._finish(step, first))

    async def adecide(self, view: RequestView) -> Outcome:
        """Decide on a request without blocking the event loop on I/O.

        Sources that may need network I/O before verifying (a JWKS URL)
        fetch in a worker thread first; the replay store is awaited.
        """
        if self._preparing:
            source = self._select_source(view)
            if source is not None and source in self._preparing:
                await source.aprepare(view)  # type: ignore[attr-defined]
        step = self._verify(view)
        if isinstance(step, Outcome):
            return self._log(view, step)
        first: bool | VerificationError = True
        ticket = step[1].replay
        if ticket is not None and self.replay is not None:
            try:
                first = await self.replay.acheck_and_record(
                    step[0].name, ticket.key_id, ticket.nonce, ticket.ttl
                )
            except ReplayStoreUnavailable as exc:
                first = exc
        return self._log(view, self._finish(step, first))

    def _verify(self, view: RequestView, trace: Trace | None = None) -> Outcome | _Pending:
        try:
            requirement = self.policy.requirement_for(
                view.method, view.route_path, view.mounted_path
            )
        except AmbiguousRequest as exc:
            # Refused whoever asks, public paths included: which route it
            # falls under depends on who reads it.
            if trace:
                trace("route", f"{view.method!r} {view.route_path!r} → {exc.detail}")
            return self._refuse(exc)
        public = requirement.kind == "public"
        if trace:
            matched = requirement.route or "default"
            trace("route", f"{view.method} {view.route_path} → {requirement.kind} ({matched})")
        if view.problem is not None:
            return self._refuse(view.problem)
        if self._peers and not public and not self._peer_trusted(view.peer):
            return self._refuse(UntrustedPeer("the peer address is not a trusted edge"))
        source = self._select_source(view)
        if source is None:
            if public:
                return Outcome(identity=None)
            return self._refuse(MissingIdentity("no identity header"))
        if trace:
            trace("source", f"{source.name} ({source.type})")
        try:
            assertion = source.verify(view, self.clock(), trace)
        except VerificationError as exc:
            return self._refuse(exc, source=source.name)
        except Exception as exc:
            # A bug or an input nobody foresaw: refuse (fail closed). Log where
            # it happened but not the message, which may quote request data.
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "edgeclaims: unexpected %s verifying %s at %s:%s",
                type(exc).__name__,
                source.name,
                frame.filename,
                frame.lineno,
            )
            return self._refuse(MalformedHeader("the identity header could not be processed"))
        return source, assertion, requirement

    def _finish(self, step: _Pending, first: bool | VerificationError) -> Outcome:
        source, assertion, requirement = step
        if assertion.subject is None:  # a source that named no one: fail closed
            return self._refuse(IncompleteClaims("no subject"), source=source.name)
        if first is not True:
            refusal = self._replay_refusal(first)
            if refusal is not None:
                return self._refuse(refusal, source=source.name, key_id=assertion.key_id)
        claims = assertion.claims
        policy = self.policy
        roles = policy.roles_for(claims)
        permissions = policy.permissions_for(roles)
        overage = policy.overage(claims)
        if overage:
            logger.warning(
                "edgeclaims: claims %s were left out by the identity provider (overage); "
                "roles depending on them were not granted",
                ", ".join(overage),
            )
        identity = Identity(
            assertion.subject,
            claims,
            roles,
            permissions,
            source.name,
            assertion.key_id,
            known_roles=policy.role_name_set,
            known_permissions=policy.permission_names,
        )
        if requirement.kind != "public" and not requirement.allows(roles, permissions):
            refusal = Forbidden("the identity lacks a role or permission this route requires")
            if self.monitor:
                return Outcome(identity, None, refusal, source.name, assertion.key_id)
            return Outcome(identity, refusal, None, source.name, assertion.key_id)
        return Outcome(identity, None, None, source.name, assertion.key_id)

    def _replay_refusal(self, first: bool | VerificationError) -> VerificationError | None:
        """Why the replay check refuses a request; None when it may go on.

        ``first`` is the store's answer (any truthy value: first sighting) or
        the error that kept the store from answering.
        """
        if isinstance(first, VerificationError):
            if self.config.replay.on_error != "allow":
                return first
            logger.error(
                "edgeclaims: replay store unavailable, request ALLOWED without replay check "
                "(replay.on_error = 'allow')"
            )
            return None
        if not first:  # a store may answer 0 or None for "seen before": all falsy is a replay
            return Replayed("this signature was already used")
        return None

    def _refuse(
        self, error: VerificationError, *, source: str | None = None, key_id: str | None = None
    ) -> Outcome:
        if self.monitor:
            return Outcome(None, None, error, source, key_id)
        return Outcome(None, error, None, source, key_id)

    def _select_source(self, view: RequestView) -> Source | None:
        for source, triggers in self._triggers:
            if view.present(triggers):
                return source
        return None

    def _peer_trusted(self, peer: str | None) -> bool:
        address = _peer_address(peer)
        return address is not None and any(address in network for network in self._peers)

    # -- decision log ------------------------------------------------------------

    def _log(self, view: RequestView, outcome: Outcome) -> Outcome:
        level = logging.WARNING if outcome.refusal or outcome.observed else logging.INFO
        if not logger.isEnabledFor(level):
            return outcome
        if outcome.refusal:
            verdict = "refused"
        elif outcome.observed:
            verdict = "monitored"
        else:
            verdict = "accepted" if outcome.identity else "anonymous"
        record = {
            "outcome": verdict,
            "code": outcome.code,
            "source": outcome.source,
            "key_id": outcome.key_id,
            # Subject only once verified; never other claim values.
            "subject": outcome.identity.subject if outcome.identity else None,
            "method": view.method,
            "path": view.route_path,
            "request_id": self._request_id(view),
        }
        log_decision(level, record)
        return outcome

    def _request_id(self, view: RequestView) -> str | None:
        name = self.config.request_id_header
        if not name:
            return None
        values = view.header_values(name.lower())
        # Bounded: the id is the edge's, but a client could send one too.
        return values[0][:128] if values else None


def _peer_address(peer: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of a peer as servers report it; None when it is not an address.

    Besides a bare address, uvicorn before 0.45 behind a proxy reports the
    forwarded ``address:port`` (``203.0.113.7:52144``, ``[2001:db8::1]:443``),
    and IPv6 may carry a zone (``fe80::1%eth0``).
    """
    if not peer:
        return None
    text = peer.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
