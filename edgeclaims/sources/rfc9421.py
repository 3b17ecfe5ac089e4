"""The ``rfc9421`` source: claims in a header, signed as an RFC 9421 HTTP Message Signature.

Wire format and rules: spec/signed-headers.md §1. In short, the edge sends

    X-Edge-Claims: <base64url JSON object>
    Signature-Input: edge=("@method" "@authority" "@path" "@query" "x-edge-claims");
                     created=…;keyid="…";nonce="…";tag="edgeclaims"   (one line)
    Signature: edge=:<base64>:

and this module refuses anything that is not exactly that, signed by a
configured key, fresh, and (with the engine's replay check) seen once. The
algorithm always comes from the key's configuration (RFC 9421 §7.3.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeclaims.algorithms import ALGORITHMS
from edgeclaims.config_table import Table
from edgeclaims.encoding import b64url_decode
from edgeclaims.errors import (
    AlgorithmNotAllowed,
    AmbiguousHeader,
    BadAudience,
    BadIssuer,
    BadSignature,
    ConfigurationError,
    Expired,
    MalformedHeader,
    MissingIdentity,
    NotYetValid,
    TooLarge,
    UnknownKey,
)
from edgeclaims.keys import Key, load_key
from edgeclaims.request import RequestView
from edgeclaims.sources import (
    Assertion,
    ReplayTicket,
    Source,
    Trace,
    read_subject_settings,
    subject_of,
)
from edgeclaims.sources.rfc9421_base import (
    DERIVED_COMPONENTS,
    HEADER_NAME,
    build_signature_base,
    check_components,
)
from edgeclaims.sources.rfc9421_reader import read_signature
from edgeclaims.strict_json import decode_json_object

__all__ = ["RFC9421Source", "from_table"]

DEFAULT_REQUIRED = ("@method", "@path", "@query")
#: Signature and Signature-Input are small; anything larger is an attack.
MAX_SIGNATURE_HEADER_BYTES = 8192
#: Seconds a nonce is remembered past the last instant its signature verifies.
#: Never shortens retention; it absorbs what could otherwise land the store's
#: expiry a hair before that instant: float rounding of ``now + ttl``, Redis's
#: whole milliseconds, and the clocks of the processes or servers sharing a
#: store reading slightly apart (issue #11, item 11).
REPLAY_MARGIN = 1.0


@dataclass(frozen=True, eq=False)
class RFC9421Source(Source):
    """Verifies the RFC 9421 profile of spec/signed-headers.md §1."""

    name: str
    keys: Mapping[str, Key]
    claims_header: str = "x-edge-claims"
    tag: str | None = "edgeclaims"
    max_age: int = 30
    leeway: int = 5
    required_components: tuple[str, ...] = (*DEFAULT_REQUIRED, "x-edge-claims")
    path_form: str = "exact"
    max_claims_bytes: int = 8192
    require_nonce: bool = True
    #: Whether a replay store records nonces (``[edgeclaims.replay]`` not ``off``).
    replay_enabled: bool = True
    issuers: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    #: The claim naming the identity; None only for the Appendix B vectors.
    subject_claim: str | None = "sub"
    required_claims: tuple[str, ...] = ()
    #: Only for RFC 9421 Appendix B vectors: choose the signature by label, not tag.
    label: str | None = None
    #: Only for RFC 9421 Appendix B vectors: the message carries no claims header.
    claims_required: bool = True
    type: str = "rfc9421"

    @property
    def trigger_headers(self) -> tuple[str, ...]:
        return (self.claims_header,)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (self.claims_header, "signature", "signature-input")

    @property
    def configured_keys(self) -> tuple[Key, ...]:
        return tuple(self.keys.values())

    def risks(self) -> tuple[tuple[str, str], ...]:
        """W015: a replay store is on, yet signatures without a nonce are accepted."""
        if self.replay_enabled and not self.require_nonce:
            return (
                (
                    "W015",
                    "require_nonce = false: a signature without a nonce is never checked "
                    "against the replay store and can be replayed within max_age",
                ),
            )
        return ()

    def replay_ttl(self, created: int, expires: int | None, now: float) -> float:
        """How long, from ``now``, to remember a nonce: past the last instant it verifies.

        ``_check_time`` accepts up to and including ``created + max_age +
        leeway`` and, when present, ``expires + leeway``: the earlier is the
        last instant the signature verifies. A replay at exactly that instant
        must still find the nonce, hence ``REPLAY_MARGIN`` beyond it (and the
        stores count an entry live through its expiry) — and ``leeway`` more,
        for a process sharing the store whose clock runs up to ``leeway``
        behind this one's and so still accepts the signature. Measured from
        this sighting, it is at most ``max_age + 3·leeway`` plus the margin.
        """
        last_valid = created + self.max_age + self.leeway
        if expires is not None:
            last_valid = min(last_valid, expires + self.leeway)
        return max(last_valid - now, 0.0) + self.leeway + REPLAY_MARGIN

    # -- verification --------------------------------------------------------

    def verify(self, view: RequestView, now: float, trace: Trace | None = None) -> Assertion:
        claims_text = view.header(self.claims_header)
        if claims_text is None and self.claims_required:
            raise MissingIdentity(f"no {self.claims_header} header")
        if claims_text is not None:
            if len(claims_text) > (self.max_claims_bytes * 4 + 2) // 3:
                raise TooLarge(f"{self.claims_header} exceeds {self.max_claims_bytes} bytes")
            if "," in claims_text:
                # Not in the base64url alphabet: two field lines that a WSGI
                # server joined with ", " (waitress does).
                raise AmbiguousHeader(f"{self.claims_header} arrived more than once")
        input_text = view.header("signature-input")
        signature_text = view.header("signature")
        if input_text is None or signature_text is None:
            raise MissingIdentity("no Signature-Input or Signature header")
        if len(input_text) > MAX_SIGNATURE_HEADER_BYTES or (
            len(signature_text) > MAX_SIGNATURE_HEADER_BYTES
        ):
            raise TooLarge("signature headers are too large")
        signature = read_signature(
            input_text,
            signature_text,
            tag=self.tag,
            label=self.label,
            required=self.required_components,
        )
        if trace:
            trace("select", f"signature {signature.label!r} carries tag {self.tag!r}")
            trace("coverage", "covers " + " ".join(signature.components))
        if self.require_nonce and not signature.nonce:
            raise MalformedHeader("signature parameter nonce is required (replay protection)")
        self._check_time(signature.created, signature.expires, now)
        if trace:
            age = int(now) - signature.created
            trace("time", f"created {signature.created}, {age}s ago (max_age {self.max_age})")

        key = self.keys.get(signature.key_id)
        if key is None:
            raise UnknownKey("no configured key has the signature's keyid")
        if signature.alg is not None and signature.alg != key.alg:
            raise AlgorithmNotAllowed(f"signature alg does not match the key's {key.alg}")

        plan = check_components(signature.components, self.required_components)
        base = build_signature_base(view, plan, signature.params_text, self.path_form)
        if trace:
            trace("key", f"keyid {signature.key_id!r} → {key.alg}")
            trace("base", base.decode("ascii"))
        if not ALGORITHMS[key.alg].verify(key.material, base, signature.value):
            raise BadSignature(
                f"signature {signature.label} does not verify with key {signature.key_id}"
            )
        if trace:
            trace("signature", "verifies")

        # Only now, with the signature verified, is anything in the claims read.
        claims = self._decode_claims(claims_text) if claims_text is not None else {}
        self._check_claims(claims, now)
        subject = subject_of(claims, self.subject_claim, self.required_claims)
        if trace:
            trace("claims", f"JSON object with {len(claims)} claims")
        ticket = None
        if signature.nonce:
            ttl = self.replay_ttl(signature.created, signature.expires, now)
            ticket = ReplayTicket(signature.key_id, signature.nonce, ttl)
        return Assertion(claims, signature.key_id, ticket, subject)

    def _check_time(self, created: int, expires: int | None, now: float) -> None:
        if created > now + self.leeway:
            raise NotYetValid("signature created in the future")
        if now - created > self.max_age + self.leeway:
            raise Expired("signature older than max_age")
        if expires is not None and now > expires + self.leeway:
            raise Expired("signature past its expires time")

    def _decode_claims(self, text: str) -> dict[str, Any]:
        # Strict base64url (RFC 4648 §5): padding, a character outside the
        # alphabet or stray low bits mean another encoder — or an attack, as
        # two header texts would then carry the same claims.
        try:
            raw = b64url_decode(text)
        except ValueError:
            raise MalformedHeader(
                f"{self.claims_header} is not canonical unpadded base64url"
            ) from None
        if len(raw) > self.max_claims_bytes:
            raise TooLarge(f"{self.claims_header} exceeds {self.max_claims_bytes} bytes")
        return decode_json_object(raw, f"{self.claims_header} header")

    def _check_claims(self, claims: Mapping[str, Any], now: float) -> None:
        for name in ("exp", "nbf"):
            value = claims.get(name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise MalformedHeader(f"claim {name} is not a number")
        exp = claims.get("exp")
        if exp is not None and now > exp + self.leeway:
            raise Expired("claims past their exp")
        nbf = claims.get("nbf")
        if nbf is not None and nbf > now + self.leeway:
            raise NotYetValid("claims before their nbf")
        if self.issuers and claims.get("iss") not in self.issuers:
            raise BadIssuer("claims iss is not a configured issuer")
        if self.audiences:
            aud = claims.get("aud")
            audiences = aud if isinstance(aud, list) else [aud]
            if not any(isinstance(a, str) and a in self.audiences for a in audiences):
                raise BadAudience("claims aud holds no configured audience")


# -- configuration -------------------------------------------------------------

_KINDS = {name: algorithm.key_kind for name, algorithm in ALGORITHMS.items()}


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> RFC9421Source:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    claims_header = table.str("claims_header", "X-Edge-Claims").lower()
    if not HEADER_NAME.fullmatch(claims_header) or "_" in claims_header:
        raise table.error("claims_header", "must be a header name made of letters, digits and '-'")
    key_tables = table.tables("keys")
    if not key_tables:
        raise table.error("keys", "at least one key is required")
    keys: dict[str, Key] = {}
    for key_table in key_tables:
        key = load_key(key_table, kinds=_KINDS, base_dir=base_dir)
        if key.id in keys:
            raise ConfigurationError(key_table.child_path("id"), f"duplicate key id {key.id!r}")
        keys[key.id] = key
    required = tuple(
        c.lower() for c in table.str_list("required_components", (*DEFAULT_REQUIRED, claims_header))
    )
    for index, component in enumerate(required):
        if component.startswith("@") and component not in DERIVED_COMPONENTS:
            raise ConfigurationError(
                f"{table.child_path('required_components')}[{index}]",
                f"unsupported derived component {component!r}",
            )
    if claims_header not in required:
        raise table.error(
            "required_components", f"must include the claims header {claims_header!r}"
        )
    tag = table.str("tag", "edgeclaims")
    if not tag:
        raise table.error("tag", "must not be empty")
    subject_claim, required_claims = read_subject_settings(table)
    source = RFC9421Source(
        name=table.str("name", "rfc9421"),
        subject_claim=subject_claim,
        required_claims=required_claims,
        keys=keys,
        claims_header=claims_header,
        tag=tag,
        max_age=table.int("max_age", 30, minimum=1),
        leeway=table.int("leeway", 5, minimum=0),
        required_components=required,
        path_form=table.str("path_form", "exact", choices=("exact", "normalized")),
        max_claims_bytes=table.int("max_claims_bytes", 8192, minimum=64),
        require_nonce=table.bool("require_nonce", replay_enabled),
        replay_enabled=replay_enabled,
        issuers=table.str_list("issuer", ()),
        audiences=table.str_list("audience", ()),
    )
    return source
