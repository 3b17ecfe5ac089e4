"""Reading one RFC 9421 signature out of ``Signature-Input`` and ``Signature``.

:func:`read_signature` takes the two header texts and returns one small
immutable :class:`Signature`, or raises the ``VerificationError`` that
refuses them. The usual headers — one member each, already in canonical
RFC 8941 form, with RFC 9421's parameters of their RFC 9421 types — are
read with two fixed regular expressions; anything else goes through the
strict RFC 8941 parser, which decides. Both ways return the same value for
the same text, and nothing is remembered from one call to the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from edgeclaims import structured
from edgeclaims.errors import (
    AmbiguousHeader,
    MalformedHeader,
    MissingIdentity,
    UnsupportedComponent,
    VerificationError,
)
from edgeclaims.sources.rfc9421_base import KNOWN_PARAMETERS, check_component, check_components

__all__ = ["Signature", "read_signature"]


class Signature(NamedTuple):
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
    required: tuple[str, ...] = (),
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


# The canonical RFC 8941 spellings (§4.1) of a key, a string without escapes
# and an integer; a member written otherwise is not "the usual" and the
# strict parser reads it.
_KEY = r"[a-z*][a-z0-9_\-.*]*"
_STRING = r'"[ !#-\[\]-~]*"'
_INTEGER = r"(?:0|-?[1-9][0-9]{0,14})"
#: One Signature-Input member: plain strings, and only RFC 9421's parameters,
#: each of its RFC 9421 type (integers for created and expires, strings else).
_USUAL_INPUT = re.compile(
    rf"({_KEY})=(\(((?:{_STRING}(?: {_STRING})*)?)\)"
    rf"((?:;(?:created|expires)={_INTEGER}|;(?:keyid|nonce|alg|tag)={_STRING})*))"
)
#: The same, in the order RFC 9421's examples and the edge write them, read
#: without a second pass over the parameters.
_ORDERED_INPUT = re.compile(
    rf"({_KEY})=(\(((?:{_STRING}(?: {_STRING})*)?)\);created=({_INTEGER})"
    rf"(?:;expires=({_INTEGER}))?(?:;nonce=({_STRING}))?;keyid=({_STRING})"
    rf"(?:;alg=({_STRING}))?;tag=({_STRING}))"
)
# Only run on text _USUAL_INPUT matched, so it need not check the values again.
_USUAL_PARAMETER = re.compile(r';([a-z]+)=(-?[0-9]+|"[^"]*")')
#: One Signature member: a byte sequence without parameters.
_USUAL_SIGNATURE = re.compile(rf"({_KEY})=:([A-Za-z0-9+/]*={{0,2}}):")


def _read_canonical(
    input_text: str, signature_text: str, tag: str, required: tuple[str, ...]
) -> Signature | None:
    """The usual headers in one pass, or None to leave every decision to the parser.

    Never raises: whatever is not exactly the usual shape, valid or not, is
    read (and refused, where it must be) by :func:`_read_strict`.
    """
    ordered = _ORDERED_INPUT.fullmatch(input_text)
    if ordered is not None:
        label, params_text, strings, created, expires, nonce, key_id, alg, tag_text = (
            ordered.groups()
        )
    else:
        member = _USUAL_INPUT.fullmatch(input_text)
        if member is None:
            return None
        label, params_text, strings, params = member.groups()
        pairs = _USUAL_PARAMETER.findall(params)
        found = dict(pairs)
        if len(found) != len(pairs):
            return None  # a repeated parameter: the strict parser calls it ambiguous
        created, key_id, tag_text = found.get("created"), found.get("keyid"), found.get("tag")
        nonce, expires, alg = found.get("nonce"), found.get("expires"), found.get("alg")
    # An untagged or unkeyed member is not ours: the strict parser says so.
    if tag_text != f'"{tag}"' or created is None or key_id is None or key_id == '""':
        return None
    names = tuple(strings[1:-1].split('" "')) if strings else ()
    try:
        components = _covered(names, required)
    except VerificationError:
        return None
    signature = _USUAL_SIGNATURE.fullmatch(signature_text)
    if signature is None or signature[1] != label:
        return None
    value = structured.canonical_base64(signature[2])
    if value is None:
        return None
    return Signature(
        label,
        components,
        int(created),
        key_id[1:-1],
        None if nonce is None else nonce[1:-1],
        None if expires is None else int(expires),
        None if alg is None else alg[1:-1],
        params_text,
        value,
    )


def _read_strict(
    input_text: str,
    signature_text: str,
    tag: str | None,
    label: str | None,
    required: tuple[str, ...],
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


def _covered(names: tuple[str, ...], required: tuple[str, ...]) -> tuple[str, ...]:
    check_components(names, required)
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
