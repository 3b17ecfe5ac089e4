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

import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeclaims import structured
from edgeclaims.algorithms import ALGORITHMS
from edgeclaims.errors import (
    AlgorithmNotAllowed,
    AmbiguousHeader,
    BadAudience,
    BadIssuer,
    BadSignature,
    ConfigurationError,
    Expired,
    InsufficientCoverage,
    MalformedHeader,
    MissingIdentity,
    NotYetValid,
    TooLarge,
    UnknownKey,
    UnsupportedComponent,
    VerificationError,
)
from edgeclaims.keys import Key, load_key
from edgeclaims.request import RequestView
from edgeclaims.settings import Table
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
    KNOWN_PARAMETERS,
    BaseStep,
    build_signature_base,
    plan_base,
)
from edgeclaims.sources.rfc9421_shapes import MAX_SHAPES, Parameters, Shape
from edgeclaims.strict_json import copy_json_object, decode_json_object

__all__ = ["RFC9421Source", "from_table"]

DEFAULT_REQUIRED = ("@method", "@path", "@query")
#: Signature and Signature-Input are small; anything larger is an attack.
MAX_SIGNATURE_HEADER_BYTES = 8192
#: Decoded claims kept per source: one entry per active session's claims header.
CLAIMS_CACHE_SIZE = 1024
#: Seconds a nonce is remembered past the last instant its signature verifies.
#: Never shortens retention; it absorbs what could otherwise land the store's
#: expiry a hair before that instant: float rounding of ``now + ttl``, Redis's
#: whole milliseconds, and the clocks of the processes or servers sharing a
#: store reading slightly apart (issue #11, item 11).
REPLAY_MARGIN = 1.0
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEADER_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")

_READ_PARAMETERS = ("created", "keyid", "nonce", "expires", "alg")
#: A chosen signature: label, covered components, base plan, signature
#: parameters, ``@signature-params`` text, signature bytes, and the parameter
#: texts of a canonical header in a shape not learned yet (else None).
_Selected = tuple[
    str, tuple[str, ...], tuple[BaseStep, ...], Parameters, str, bytes, Mapping[str, str] | None
]


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
    #: Claims headers that verified, decoded (see _verified_claims; bounded).
    _decoded_claims: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    #: Signature-Input shapes learned from verified requests (rfc9421_shapes).
    _shapes: tuple[Shape, ...] = field(default=(), init=False, repr=False)

    @property
    def trigger_headers(self) -> tuple[str, ...]:
        return (self.claims_header,)

    @property
    def stripped_headers(self) -> tuple[str, ...]:
        return (self.claims_header, "signature", "signature-input")

    @property
    def configured_keys(self) -> tuple[Key, ...]:
        return tuple(self.keys.values())

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
        selected = self._select_canonical(input_text, signature_text)
        if selected is None:
            selected = self._select(input_text, signature_text)
        label, components, plan, parameters, signature_params, signature, lesson = selected
        if trace:
            trace("select", f"signature {label!r} carries tag {self.tag!r}")
            trace("coverage", "covers " + " ".join(components))
        created, key_id, nonce, expires, alg = parameters
        if self.require_nonce and not nonce:
            raise MalformedHeader("signature parameter nonce is required (replay protection)")
        self._check_time(created, expires, now)
        if trace:
            trace("time", f"created {created}, {int(now) - created}s ago (max_age {self.max_age})")

        key = self.keys.get(key_id)
        if key is None:
            raise UnknownKey("no configured key has the signature's keyid")
        if alg is not None and alg != key.alg:
            raise AlgorithmNotAllowed(f"signature alg does not match the key's {key.alg}")

        base = build_signature_base(view, plan, signature_params, self.path_form)
        if trace:
            trace("key", f"keyid {key_id!r} → {key.alg}")
            trace("base", base.decode("ascii"))
        if not ALGORITHMS[key.alg].verify(key.material, base, signature):
            raise BadSignature(f"signature {label} does not verify with key {key_id}")
        if lesson is not None:
            self._learn(Shape(label, components, plan, lesson))
        if trace:
            trace("signature", "verifies")

        # Only now, with the signature verified, is anything in the claims read.
        claims = self._verified_claims(claims_text) if claims_text is not None else {}
        self._check_claims(claims, now)
        subject = subject_of(claims, self.subject_claim, self.required_claims)
        if trace:
            trace("claims", f"JSON object with {len(claims)} claims")
        ticket = (
            ReplayTicket(key_id, nonce, self.replay_ttl(created, expires, now)) if nonce else None
        )
        return Assertion(claims, key_id, ticket, subject)

    # -- choosing the signature ------------------------------------------------
    #
    # Both give a _Selected for the one signature that carries the configured
    # tag: _select parses in full and raises; _select_canonical answers the
    # usual case faster, identically, or leaves it to _select.

    def _select_canonical(self, input_text: str, signature_text: str) -> _Selected | None:
        """The common case in one pass, or None to leave the decision to ``_select``.

        One canonical member in each header (structured.canonical_*), read
        through a learned shape when it has one: the answer is then exactly
        ``_select``'s. This never raises; whatever it does not recognise,
        ``_select`` parses in full and refuses.
        """
        if self.label is not None:
            return None
        for shape in self._shapes:
            parameters = shape.read(input_text)
            if parameters is not None:
                label = shape.label
                covered = (shape.components, shape.plan)
                lesson = None
                break
        else:
            member = structured.canonical_inner_list_member(input_text)
            if member is None:
                return None
            label, names, lesson, _ = member
            if self.tag is None or lesson.get("tag") != f'"{self.tag}"':
                return None
            found = _canonical_signature_parameters(lesson)
            if found is None:
                return None
            parameters = found
            try:
                # Checked on every miss: a verified request teaches its shape,
                # after which the shape carries the checked components.
                components = self._check_components(names)
            except VerificationError:
                return None
            covered = (components, plan_base(components))
        signature = structured.canonical_byte_sequence_member(signature_text)
        if signature is None or signature[0] != label:
            return None
        signature_params = input_text[len(label) + 1 :]
        return label, covered[0], covered[1], parameters, signature_params, signature[1], lesson

    def _learn(self, shape: Shape) -> None:
        # A new tuple, swapped in whole: threads reading the old one are unaffected.
        shapes = self._shapes if len(self._shapes) < MAX_SHAPES else ()
        object.__setattr__(self, "_shapes", (*shapes, shape))

    def _select(self, input_text: str, signature_text: str) -> _Selected:
        inputs = _parse_dictionary(input_text, "Signature-Input")
        signatures = _parse_dictionary(signature_text, "Signature")
        chosen: list[tuple[str, structured.InnerList]] = []
        for member_label, member in inputs.items():
            if not isinstance(member, structured.InnerList):
                raise MalformedHeader("a Signature-Input member is not an inner list")
            if self.label is not None:
                if member_label == self.label:
                    chosen.append((member_label, member))
            elif member.params.get("tag") == self.tag:
                chosen.append((member_label, member))
        if not chosen:
            raise MissingIdentity("no signature carries the configured tag")
        if len(chosen) > 1:
            raise AmbiguousHeader("more than one signature carries the configured tag")
        label, inner = chosen[0]
        value = signatures.get(label)
        if value is None:
            raise MissingIdentity("the Signature header has no member for the signature's label")
        if not isinstance(value, structured.Item) or not isinstance(value.value, bytes):
            raise MalformedHeader("the Signature member is not a byte sequence")
        if value.params:
            raise MalformedHeader("the Signature member has parameters")
        components = self._check_components(inner.items)
        return (
            label,
            components,
            plan_base(components),
            _signature_parameters(inner.params),
            structured.serialize_inner_list(inner),
            value.value,
            None,
        )

    def _check_components(
        self, covered: Sequence[str] | Sequence[structured.Item]
    ) -> tuple[str, ...]:
        """The covered component names, each one supported, none twice, all required there.

        ``covered`` holds the parsed items, or their names when the canonical
        path already knows each is a plain string without parameters.
        """
        components: list[str] = []
        for entry in covered:
            if isinstance(entry, structured.Item):
                name = entry.value
                if type(name) is not str:  # a Token, bytes or number is not a component id
                    raise MalformedHeader("a covered component is not a string")
                if entry.params:
                    # ;sf ;bs ;key ;req ;tr ;name change how a value is derived.
                    raise UnsupportedComponent("component parameters are not supported")
            else:
                name = entry
            if name.startswith("@"):
                if name not in DERIVED_COMPONENTS:
                    raise UnsupportedComponent("unsupported derived component")
            elif not _HEADER_NAME.fullmatch(name):
                raise MalformedHeader("a covered header name is not a lower-case field name")
            if name in components:
                raise MalformedHeader("a component is covered twice")  # RFC 9421 §2.5
            components.append(name)
        missing = [name for name in self.required_components if name not in components]
        if missing:
            raise InsufficientCoverage(f"the signature does not cover {', '.join(missing)}")
        return tuple(components)

    def _check_time(self, created: int, expires: object, now: float) -> None:
        if created > now + self.leeway:
            raise NotYetValid("signature created in the future")
        if now - created > self.max_age + self.leeway:
            raise Expired("signature older than max_age")
        if expires is not None:
            if not isinstance(expires, int) or isinstance(expires, bool):
                raise MalformedHeader("signature parameter expires is not an integer")
            if now > expires + self.leeway:
                raise Expired("signature past its expires time")

    def _verified_claims(self, text: str) -> dict[str, Any]:
        """The claims of a header whose signature verified, decoded once per distinct text.

        An edge sends the same claims header on every request of a session,
        so the decoded object is kept (bounded; only verified texts get in)
        and each request gets its own deep copy. Time, issuer and audience
        checks still run on every request.
        """
        decoded = self._decoded_claims.get(text)
        if decoded is None:
            decoded = self._decode_claims(text)
            if len(self._decoded_claims) >= CLAIMS_CACHE_SIZE:
                self._decoded_claims.clear()
            self._decoded_claims[text] = decoded
        return copy_json_object(decoded)

    def _decode_claims(self, text: str) -> dict[str, Any]:
        # Strict base64url without padding (RFC 4648 §5): a '=' or a character
        # outside the alphabet is a different encoder — or an attack.
        remainder = len(text) % 4
        if remainder == 1 or not _BASE64URL.fullmatch(text):
            raise MalformedHeader(f"{self.claims_header} is not unpadded base64url")
        # Canonical only: the unused low bits of the last character must be
        # zero, or two header texts would carry the same claims.
        if remainder and _B64URL_ALPHABET.index(text[-1]) & (0b1111 if remainder == 2 else 0b11):
            raise MalformedHeader(f"{self.claims_header} is not canonical base64url")
        try:
            # The alphabet was checked above: translate to standard base64 and decode.
            raw = binascii.a2b_base64(
                text.encode("ascii").translate(_TO_STANDARD_BASE64) + b"=" * (-len(text) % 4)
            )
        except (binascii.Error, ValueError):
            raise MalformedHeader(f"{self.claims_header} is not unpadded base64url") from None
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


def _parse_dictionary(text: str, header: str) -> dict[str, structured.Item | structured.InnerList]:
    try:
        return structured.parse_dictionary(text, reject_duplicates=True)
    except structured.StructuredFieldError:
        pass
    # Tell a duplicated label (two field lines joined, or two signatures under
    # one label) apart from plain garbage: the first is ambiguous.
    try:
        structured.parse_dictionary(text)
    except structured.StructuredFieldError:
        raise MalformedHeader(f"{header} is not a valid structured field dictionary") from None
    raise AmbiguousHeader(f"{header} repeats a label or a parameter")


def _signature_parameters(params: Mapping[str, object]) -> Parameters:
    """``created``, ``keyid``, ``nonce``, ``expires``, ``alg``, each of its RFC 9421 type."""
    if not KNOWN_PARAMETERS.issuperset(params):
        raise UnsupportedComponent("unsupported signature parameter")
    created, key_id, nonce, expires, alg = map(params.get, _READ_PARAMETERS)
    # type() rather than isinstance(): a Token is a str subclass and a bool
    # an int subclass, and neither is what RFC 9421 puts here.
    if type(created) is not int:
        raise MalformedHeader("signature parameter created is missing or not an integer")
    if type(key_id) is not str or not key_id:
        raise MalformedHeader("signature parameter keyid is missing or not a string")
    if expires is not None and type(expires) is not int:
        raise MalformedHeader("signature parameter expires is not an integer")
    for name, value in (("nonce", nonce), ("alg", alg), ("tag", params.get("tag"))):
        if value is not None and type(value) is not str:
            raise MalformedHeader(f"signature parameter {name} is not a string")
    return created, key_id, nonce, expires, alg  # type: ignore[return-value]


_INTEGER_START = frozenset("-0123456789")


def _canonical_signature_parameters(raw: Mapping[str, str]) -> Parameters | None:
    """``_signature_parameters`` for a canonical member's parameter texts.

    None wherever ``_signature_parameters`` would refuse (an unknown
    parameter, a value of another type), leaving the refusal to it.
    """
    if not KNOWN_PARAMETERS.issuperset(raw):
        return None
    created, key_id, nonce, expires, alg = map(raw.get, _READ_PARAMETERS)
    if not created or created[0] not in _INTEGER_START:
        return None
    if not key_id or key_id[0] != '"' or key_id == '""':
        return None
    if expires is not None and (not expires or expires[0] not in _INTEGER_START):
        return None
    for value in (nonce, alg, raw.get("tag")):
        if value is not None and value[:1] != '"':
            return None
    return (
        int(created),
        key_id[1:-1],
        None if nonce is None else nonce[1:-1],
        None if expires is None else int(expires),
        None if alg is None else alg[1:-1],
    )


_B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD_BASE64 = bytes.maketrans(b"-_", b"+/")


# -- configuration -------------------------------------------------------------

_KINDS = {name: algorithm.key_kind for name, algorithm in ALGORITHMS.items()}


def from_table(table: Table, *, base_dir: Path, replay_enabled: bool = True) -> RFC9421Source:
    """Build the source from its ``[[edgeclaims.sources]]`` table."""
    claims_header = table.str("claims_header", "X-Edge-Claims").lower()
    if not _HEADER_NAME.fullmatch(claims_header) or "_" in claims_header:
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
        issuers=table.str_list("issuer", ()),
        audiences=table.str_list("audience", ()),
    )
    return source
