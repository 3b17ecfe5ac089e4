"""Reading one RFC 9421 signature out of ``Signature-Input`` and ``Signature``.

:func:`read_signature` takes the two header texts and returns one small
immutable :class:`Signature`, or raises the ``VerificationError`` that
refuses them. The usual headers — one member each, already in canonical
RFC 8941 form — are read with two fixed regular expressions
(``structured.canonical_*``); anything else goes through the strict RFC 8941
parser, which decides. Both ways return the same value for the same text,
and nothing is remembered from one call to the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgeclaims import structured
from edgeclaims.errors import (
    AmbiguousHeader,
    InsufficientCoverage,
    MalformedHeader,
    MissingIdentity,
    UnsupportedComponent,
    VerificationError,
)
from edgeclaims.sources.rfc9421_base import KNOWN_PARAMETERS, check_component, check_components

__all__ = ["Signature", "read_signature"]


@dataclass(frozen=True, slots=True)
class Signature:
    """The one signature that carries the configured tag (or label), with its parameters."""

    label: str
    #: Covered component identifiers, in order; each supported, none twice.
    components: tuple[str, ...]
    created: int
    key_id: str
    nonce: str | None
    expires: int | None
    alg: str | None
    #: The ``@signature-params`` value: the inner list as serialized canonically.
    params_text: str
    value: bytes


def read_signature(
    input_text: str,
    signature_text: str,
    *,
    tag: str | None,
    label: str | None = None,
    required: Sequence[str] = (),
) -> Signature:
    """The signature carrying ``tag`` (or, for test vectors, named ``label``).

    Raises ``MissingIdentity`` when none does, ``AmbiguousHeader`` when more
    than one does or a label or parameter repeats, ``MalformedHeader`` or
    ``UnsupportedComponent`` for anything outside the profile, and
    ``InsufficientCoverage`` when a ``required`` component is not covered.
    """
    if label is None and tag is not None:
        found = _read_canonical(input_text, signature_text, tag, required)
        if found is not None:
            return found
    return _read_strict(input_text, signature_text, tag, label, required)


def _read_canonical(
    input_text: str, signature_text: str, tag: str, required: Sequence[str]
) -> Signature | None:
    """The usual headers in one pass, or None to leave every decision to the parser.

    Never raises: whatever is not exactly the usual shape, valid or not, is
    read (and refused, where it must be) by :func:`_read_strict`.
    """
    member = structured.canonical_inner_list_member(input_text)
    if member is None:
        return None
    label, names, params, params_text = member
    if params.get("tag") != f'"{tag}"':
        return None
    parameters = _canonical_parameters(params)
    if parameters is None:
        return None
    try:
        components = _covered(names, required)
    except VerificationError:
        return None
    signature = structured.canonical_byte_sequence_member(signature_text)
    if signature is None or signature[0] != label:
        return None
    return Signature(label, components, *parameters, params_text, signature[1])


def _read_strict(
    input_text: str,
    signature_text: str,
    tag: str | None,
    label: str | None,
    required: Sequence[str],
) -> Signature:
    inputs = _parse_dictionary(input_text, "Signature-Input")
    signatures = _parse_dictionary(signature_text, "Signature")
    chosen: list[tuple[str, structured.InnerList]] = []
    for member_label, member in inputs.items():
        if not isinstance(member, structured.InnerList):
            raise MalformedHeader("a Signature-Input member is not an inner list")
        if label is not None:
            if member_label == label:
                chosen.append((member_label, member))
        elif member.params.get("tag") == tag:
            chosen.append((member_label, member))
    if not chosen:
        raise MissingIdentity("no signature carries the configured tag")
    if len(chosen) > 1:
        raise AmbiguousHeader("more than one signature carries the configured tag")
    chosen_label, inner = chosen[0]
    value = signatures.get(chosen_label)
    if value is None:
        raise MissingIdentity("the Signature header has no member for the signature's label")
    if not isinstance(value, structured.Item) or not isinstance(value.value, bytes):
        raise MalformedHeader("the Signature member is not a byte sequence")
    if value.params:
        raise MalformedHeader("the Signature member has parameters")
    names: list[str] = []
    seen: set[str] = set()
    for item in inner.items:  # in covered order: the first offence decides the code
        if type(item.value) is not str:  # a Token, bytes or number is not a component id
            raise MalformedHeader("a covered component is not a string")
        if item.params:
            # ;sf ;bs ;key ;req ;tr ;name change how a value is derived.
            raise UnsupportedComponent("component parameters are not supported")
        check_component(item.value, seen)
        names.append(item.value)
    components = _covered(tuple(names), required)
    return Signature(
        chosen_label,
        components,
        *_parameters(inner.params),
        structured.serialize_inner_list(inner),
        value.value,
    )


def _covered(names: tuple[str, ...], required: Sequence[str]) -> tuple[str, ...]:
    check_components(names)
    missing = [name for name in required if name not in names]
    if missing:
        raise InsufficientCoverage(f"the signature does not cover {', '.join(missing)}")
    return names


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


_Parameters = tuple[int, str, str | None, int | None, str | None]
_READ = ("created", "keyid", "nonce", "expires", "alg")


def _parameters(params: Mapping[str, object]) -> _Parameters:
    """``created``, ``keyid``, ``nonce``, ``expires``, ``alg``, each of its RFC 9421 type."""
    if not KNOWN_PARAMETERS.issuperset(params):
        raise UnsupportedComponent("unsupported signature parameter")
    created, key_id, nonce, expires, alg = map(params.get, _READ)
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


def _canonical_parameters(raw: Mapping[str, str]) -> _Parameters | None:
    """:func:`_parameters` for a canonical member's parameter texts; None where it would refuse."""
    if not KNOWN_PARAMETERS.issuperset(raw):
        return None
    created, key_id, nonce, expires, alg = map(raw.get, _READ)
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
