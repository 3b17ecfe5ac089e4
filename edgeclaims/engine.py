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
from typing import TYPE_CHECKING, Any, NamedTuple

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
from edgeclaims.logs import log_outcome
from edgeclaims.rbac import RouteRequirement
from edgeclaims.replay import ReplayStore, build_replay_store
from edgeclaims.request import RequestView
from edgeclaims.sources import Assertion, ReplayTicket, Source, Trace

if TYPE_CHECKING:
    from edgeclaims.origin_gate import G2OGate

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
        #: ``[edgeclaims.origin_gate]``, checked before any source; None when not set.
        self.gate = self.config.origin_gate
        stripped: list[str] = list(self.gate.stripped_headers) if self.gate is not None else []
        for source in self.sources:
            stripped.extend(h for h in source.stripped_headers if h not in stripped)
        #: Lower-cased headers no application ever sees.
        self.stripped_headers: tuple[str, ...] = tuple(stripped)
        self._peers = self.config.trusted_peers
        self._triggers = tuple((source, source.trigger_headers) for source in self.sources)
        #: Sources with an async preparation step (JWKS fetched off the loop).
        self._preparing = frozenset(s for s in self.sources if hasattr(s, "aprepare"))
        #: Whether a source verifies the request body (GAP-Signature): only then
        #: do adapters ask :meth:`body_limit_for` and read the body.
        self.reads_body = any(s.body_limit is not None for s in self.sources)

    def with_public_routes(self, paths: tuple[str, ...]) -> Engine:
        """This engine, its replay store included, with these exact paths public first."""
        policy = self.policy.with_public_routes(paths)
        return Engine(
            dataclasses.replace(self.config, policy=policy),
            clock=self.clock,
            replay_store=self.replay,
        )

    def body_limit_for(self, view: RequestView) -> int | None:
        """How many body bytes the source deciding ``view`` verifies; None when it reads none.

        The source is the one :meth:`decide` will pick (the first whose header
        is present); adapters call this only when :attr:`reads_body`.
        """
        for source, triggers in self._triggers:
            if view.present(triggers):
                return source.body_limit
        return None

    # -- deciding -------------------------------------------------------------
    #
    # One straight line, twice: requirement → origin gate → source →
    # verification → replay → authorization, every refusal raised and turned
    # into an outcome by the one `except`. `adecide` differs only where it awaits.

    def decide(self, view: RequestView, trace: Trace | None = None) -> Outcome:
        """Decide on a request, synchronously; ``trace`` is told each step (CLI)."""
        source: Source | None = None
        assertion: Assertion | None = None
        gate = self.gate
        try:
            requirement = self._requirement(view, trace)
            if gate is not None and not gate.exempts(view):
                passed = self._pass_gate(gate, view, trace)
                if self.replay is not None:
                    try:
                        first: object = self.replay.check_and_record(gate.name, *passed)
                    except ReplayStoreUnavailable as exc:
                        first = exc
                    self._judge_replay(first, trace, gate.name)
            source = self._source(view, requirement, trace)
            if source is not None:
                assertion = self._verify(source, view, trace)
                ticket = assertion.replay
                if ticket is not None and self.replay is not None:
                    try:
                        first = self.replay.check_and_record(source.name, *ticket)
                    except ReplayStoreUnavailable as exc:
                        first = exc
                    self._judge_replay(first, trace)
            outcome = self._authorize(requirement, source, assertion)
        except VerificationError as error:
            outcome = self._refused(error, source, assertion, gate)
        return log_outcome(view, outcome, self.config.request_id_header)

    async def adecide(self, view: RequestView) -> Outcome:
        """Decide on a request without blocking the event loop on I/O.

        Sources that may need network I/O before verifying (a JWKS URL)
        fetch in a worker thread first; the replay store is awaited.
        """
        source: Source | None = None
        assertion: Assertion | None = None
        gate = self.gate
        try:
            requirement = self._requirement(view)
            if gate is not None and not gate.exempts(view):
                passed = self._pass_gate(gate, view)
                if self.replay is not None:
                    try:
                        first: object = await self.replay.acheck_and_record(gate.name, *passed)
                    except ReplayStoreUnavailable as exc:
                        first = exc
                    self._judge_replay(first, None, gate.name)
            source = self._source(view, requirement)
            if source is not None:
                if source in self._preparing:
                    await source.aprepare(view)  # type: ignore[attr-defined]
                assertion = self._verify(source, view)
                ticket = assertion.replay
                if ticket is not None and self.replay is not None:
                    try:
                        first = await self.replay.acheck_and_record(source.name, *ticket)
                    except ReplayStoreUnavailable as exc:
                        first = exc
                    self._judge_replay(first)
            outcome = self._authorize(requirement, source, assertion)
        except VerificationError as error:
            outcome = self._refused(error, source, assertion, gate)
        return log_outcome(view, outcome, self.config.request_id_header)

    # -- the steps ---------------------------------------------------------------

    def _requirement(self, view: RequestView, trace: Trace | None = None) -> RouteRequirement:
        """What the route needs; refuses a request that cannot be trusted as it stands."""
        try:
            requirement = self.policy.requirement_for(
                view.method, view.route_path, view.mounted_path
            )
        except AmbiguousRequest as exc:
            # Refused whoever asks, public paths included: which route it
            # falls under depends on who reads it.
            if trace:
                trace("route", f"{view.method!r} {view.route_path!r} → {exc.detail}")
            raise
        if trace:
            matched = requirement.route or "default"
            trace("route", f"{view.method} {view.route_path} → {requirement.kind} ({matched})")
        if view.problem is not None:
            raise view.problem
        if self._peers and requirement.kind != "public" and not self._peer_trusted(view.peer):
            raise UntrustedPeer("the peer address is not a trusted edge")
        return requirement

    def _pass_gate(
        self, gate: G2OGate, view: RequestView, trace: Trace | None = None
    ) -> ReplayTicket:
        """The origin gate's check; what to record in the replay store once it passed."""
        try:
            return gate.check(view, self.clock(), trace)
        except VerificationError:
            raise
        except Exception as exc:
            # As in _verify: a bug or an input nobody foresaw refuses (fail closed).
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "edgeclaims: unexpected %s in the origin gate at %s:%s",
                type(exc).__name__,
                frame.filename,
                frame.lineno,
            )
            raise MalformedHeader("the origin gate headers could not be processed") from None

    def _source(
        self, view: RequestView, requirement: RouteRequirement, trace: Trace | None = None
    ) -> Source | None:
        """The source whose header arrived; None for an anonymous request on a public route."""
        for source, triggers in self._triggers:
            if view.present(triggers):
                if trace:
                    trace("source", f"{source.name} ({source.type})")
                if source.unsigned and self._peers and not self._peer_trusted(view.peer):
                    # An unsigned header is worth what its sender is: checked on
                    # every route, public ones too (a signed one on public routes
                    # is still verified, so it needs no such check there).
                    raise UntrustedPeer("an unsigned identity header from an untrusted peer")
                return source
        if requirement.kind == "public":
            return None
        raise MissingIdentity("no identity header")

    def _verify(self, source: Source, view: RequestView, trace: Trace | None = None) -> Assertion:
        try:
            assertion = source.verify(view, self.clock(), trace)
        except VerificationError:
            raise
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
            raise MalformedHeader("the identity header could not be processed") from None
        if assertion.subject is None:  # a source that named no one: fail closed
            raise IncompleteClaims("no subject")
        return assertion

    def _judge_replay(
        self, first: object, trace: Trace | None = None, what: str = "signature"
    ) -> None:
        """Act on the replay store's answer: any truthy value is a first sighting.

        A store may answer 0 or None for "seen before": every falsy answer is
        a replay. ``first`` is the error itself when the store could not answer.
        """
        if trace and self.replay is not None:
            said = (
                "unavailable"
                if isinstance(first, VerificationError)
                else ("first sighting" if first else "seen before")
            )
            trace("replay", f"{self.replay.name} store: {said}")
        if isinstance(first, VerificationError):
            if self.config.replay.on_error != "allow":
                raise first
            logger.error(
                "edgeclaims: replay store unavailable, request ALLOWED without replay check "
                "(replay.on_error = 'allow')"
            )
        elif not first:
            raise Replayed(f"this {what} was already used")

    def _authorize(
        self, requirement: RouteRequirement, source: Source | None, assertion: Assertion | None
    ) -> Outcome:
        """The identity with its roles, and whether the route lets it through."""
        if source is None or assertion is None:
            return Outcome(identity=None)
        policy = self.policy
        claims = assertion.claims
        grant = policy.grant(requirement, claims)
        overage = policy.overage(claims)
        if overage:
            logger.warning(
                "edgeclaims: claims %s were left out by the identity provider (overage); "
                "roles depending on them were not granted",
                ", ".join(overage),
            )
        identity = Identity(
            assertion.subject or "",
            claims,
            grant.roles,
            grant.permissions,
            source.name,
            assertion.key_id,
            known_roles=policy.role_name_set,
            known_permissions=policy.permission_names,
        )
        if grant.allowed:
            return Outcome(identity, None, None, source.name, assertion.key_id)
        refusal = Forbidden("the identity lacks a role or permission this route requires")
        if self.monitor:
            return Outcome(identity, None, refusal, source.name, assertion.key_id)
        return Outcome(identity, refusal, None, source.name, assertion.key_id)

    def _refused(
        self,
        error: VerificationError,
        source: Source | None,
        assertion: Assertion | None,
        gate: G2OGate | None = None,
    ) -> Outcome:
        # Before any source was chosen, a configured gate is what refused (or
        # passed, and then no source answered: still named, it ran).
        name = source.name if source is not None else (gate.name if gate is not None else None)
        key_id = assertion.key_id if assertion is not None else None
        if self.monitor:
            return Outcome(None, None, error, name, key_id)
        return Outcome(None, error, None, name, key_id)

    def _peer_trusted(self, peer: str | None) -> bool:
        address = _peer_address(peer)
        return address is not None and any(address in network for network in self._peers)


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
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    # A dual-stack socket reports an IPv4 peer as ::ffff:10.1.2.3.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address
