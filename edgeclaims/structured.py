"""A strict RFC 8941 (Structured Field Values) parser and serializer.

Our own, because it is both the hot path and the attack surface of RFC 9421
verification (``Signature-Input`` and ``Signature`` are dictionaries). It
follows the parsing algorithms of RFC 8941 §4.2 exactly and refuses what
they refuse — including the RFC 9651 additions (``@`` dates, ``%``
display strings), which RFC 8941 parsers must not accept.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple, Union

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "Parameters",
    "StructuredFieldError",
    "Token",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_inner_list",
    "serialize_item",
]


class StructuredFieldError(ValueError):
    """The text is not a valid structured field (RFC 8941 §4.2 says: fail parsing)."""


class Token(str):
    """An sf-token (RFC 8941 §3.3.4), distinct from an sf-string."""

    __slots__ = ()


BareItem = Union[int, Decimal, str, Token, bytes, bool]  # noqa: UP007 - runtime alias on 3.10
Parameters = Mapping[str, BareItem]


class _NoParameters(Mapping[str, BareItem]):
    """The empty parameter map; hashable, so parameterless items can key caches."""

    __slots__ = ()

    def __getitem__(self, key: str) -> BareItem:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and len(other) == 0

    def __repr__(self) -> str:
        return "{}"


_EMPTY: Parameters = _NoParameters()


# NamedTuples rather than frozen dataclasses: just as immutable, and several
# times cheaper to build on the per-request path.
class Item(NamedTuple):
    """An sf-item: a bare item with parameters."""

    value: BareItem
    params: Parameters = _EMPTY


class InnerList(NamedTuple):
    """An inner list: items in parentheses, with parameters."""

    items: tuple[Item, ...]
    params: Parameters = _EMPTY
    #: The canonical serialization, when the parser saw it verbatim (saves
    #: re-serializing); None otherwise. Compare ``items`` and ``params``.
    canonical: str | None = None


# Precompiled scanners; each pattern is linear (no nested quantifiers).
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]*)?")
_STRING_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but '"' and '\'
_BASE64 = re.compile(r"[A-Za-z0-9+/=]*")
_OWS = " \t"


class _Parser:
    __slots__ = ("pos", "reject_duplicates", "text")

    def __init__(self, text: str | bytes, reject_duplicates: bool) -> None:
        if isinstance(text, bytes):
            try:
                text = text.decode("ascii")
            except UnicodeDecodeError:
                raise StructuredFieldError("field value is not ASCII") from None
        elif not text.isascii():
            raise StructuredFieldError("field value is not ASCII")
        # §4.2 steps 2 and 5: discard leading and trailing SP (only SP).
        self.text = text.strip(" ")
        self.pos = 0
        self.reject_duplicates = reject_duplicates

    def fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at position {self.pos}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ows(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _OWS:
            pos += 1
        self.pos = pos

    def skip_sp(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] == " ":
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    # §4.2.1
    def list_members(self) -> list[Item | InnerList]:
        members: list[Item | InnerList] = []
        while not self.at_end():
            members.append(self.item_or_inner_list())
            self.skip_ows()
            if self.at_end():
                return members
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip_ows()
            if self.at_end():
                raise self.fail("trailing ','")
        return members

    # §4.2.2
    def dictionary(self) -> dict[str, Item | InnerList]:
        members: dict[str, Item | InnerList] = {}
        while not self.at_end():
            key = self.key()
            if self.peek() == "=":
                self.pos += 1
                member: Item | InnerList = self.item_or_inner_list()
            else:
                member = Item(True, self.parameters())
            if key in members and self.reject_duplicates:
                raise self.fail(f"duplicate key {key!r}")
            members[key] = member  # a duplicate overwrites in place (ordered map)
            self.skip_ows()
            if self.at_end():
                return members
            if self.peek() != ",":
                raise self.fail("expected ','")
            self.pos += 1
            self.skip_ows()
            if self.at_end():
                raise self.fail("trailing ','")
        return members

    def item_or_inner_list(self) -> Item | InnerList:
        if self.peek() == "(":
            return self.inner_list()
        return self.item()

    # §4.2.1.2
    def inner_list(self) -> InnerList:
        self.pos += 1  # "("
        items: list[Item] = []
        while not self.at_end():
            self.skip_sp()
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")
        raise self.fail("unterminated inner list")

    # §4.2.3
    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.parameters())

    # §4.2.3.2
    def parameters(self) -> Parameters:
        if self.peek() != ";":
            return _EMPTY
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip_sp()
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            if key in params and self.reject_duplicates:
                raise self.fail(f"duplicate parameter {key!r}")
            params[key] = value
        return MappingProxyType(params)

    # §4.2.3.3
    def key(self) -> str:
        match = _KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group()

    # §4.2.3.1
    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or char.isdigit():
            return self.number()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char == "*" or ("A" <= char <= "Z") or ("a" <= char <= "z"):
            match = _TOKEN.match(self.text, self.pos)
            assert match is not None
            self.pos = match.end()
            return Token(match.group())
        raise self.fail("expected a bare item")

    # §4.2.4
    def number(self) -> int | Decimal:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a number")
        text = match.group()
        digits = text.lstrip("-")
        if match.group(1) is None:
            if len(digits) > 15:
                raise self.fail("integer has more than 15 digits")
            self.pos = match.end()
            return int(text)
        whole, _, fraction = digits.partition(".")
        if len(whole) > 12:
            raise self.fail("decimal has more than 12 integer digits")
        if not fraction:
            raise self.fail("decimal ends with '.'")
        if len(fraction) > 3:
            raise self.fail("decimal has more than 3 fractional digits")
        self.pos = match.end()
        return Decimal(text)

    # §4.2.5
    def string(self) -> str:
        self.pos += 1  # opening '"'
        parts: list[str] = []
        text = self.text
        while True:
            match = _STRING_PLAIN.match(text, self.pos)
            assert match is not None
            parts.append(match.group())
            self.pos = match.end()
            char = self.peek()
            if char == '"':
                self.pos += 1
                return "".join(parts)
            if char == "\\":
                escaped = text[self.pos + 1 : self.pos + 2]
                if escaped not in ('"', "\\"):
                    raise self.fail("invalid escape in string")
                parts.append(escaped)
                self.pos += 2
                continue
            if char == "":
                raise self.fail("unterminated string")
            raise self.fail("invalid character in string")

    # §4.2.7
    def byte_sequence(self) -> bytes:
        self.pos += 1  # opening ':'
        end = self.text.find(":", self.pos)
        if end < 0:
            raise self.fail("unterminated byte sequence")
        body = self.text[self.pos : end]
        if not _BASE64.fullmatch(body):
            raise self.fail("invalid character in byte sequence")
        try:
            value = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise self.fail("invalid base64 in byte sequence") from None
        # Strict: only the canonical encoding (padding present, zero
        # trailing bits) — two texts must never mean the same bytes.
        if base64.b64encode(value).decode("ascii") != body:
            raise self.fail("non-canonical base64 in byte sequence")
        self.pos = end + 1
        return value

    # §4.2.8
    def boolean(self) -> bool:
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            raise self.fail("invalid boolean")
        self.pos += 2
        return value == "1"


def parse_dictionary(
    text: str | bytes, *, reject_duplicates: bool = False
) -> dict[str, Item | InnerList]:
    """Parse an sf-dictionary field value (RFC 8941 §4.2.2)."""
    if isinstance(text, str):
        single = _SINGLE_BYTES_MEMBER.fullmatch(text)
        if single is not None:
            # `label=:base64:` alone — the usual Signature header.
            body = single.group(2)
            try:
                value = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                value = None
            if value is not None and base64.b64encode(value).decode("ascii") == body:
                return {single.group(1): Item._make((value, _EMPTY))}
        fast = _fast_dictionary(text, reject_duplicates)
        if fast is not None:
            return fast
    parser = _Parser(text, reject_duplicates)
    return parser.dictionary()


# -- the fast path ---------------------------------------------------------------
#
# Signature headers nearly always have one shape: members whose value is an
# inner list of plain strings, or a byte sequence, with parameters that are
# canonical integers, plain strings, tokens or booleans. For text that is
# already in canonical form, one regex match per member gives the same result
# as the full parser (a property test holds the two to it), and the member's
# text *is* its serialization, so RFC 9421's @signature-params needs no
# re-serializing. Anything else — escapes, decimals, OWS inside a member —
# falls back to the full parser, never to a looser one.

_P_KEY = r"[a-z*][a-z0-9_\-.*]*"
_P_STR = r'"[ !#-\[\]-~]*"'
_P_TOKEN = r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*"
_P_INT = r"(?:0|-?[1-9][0-9]{0,14})"
_P_PARAM = rf";(?:{_P_KEY})(?:=(?:{_P_INT}|{_P_STR}|{_P_TOKEN}|\?[01]))?"
_FAST_MEMBER = re.compile(
    rf"({_P_KEY})=(?:\(((?:{_P_STR}(?: {_P_STR})*)?)\)|:([A-Za-z0-9+/]*={{0,2}}):)((?:{_P_PARAM})*)"
)
_SINGLE_BYTES_MEMBER = re.compile(rf" *({_P_KEY})=:([A-Za-z0-9+/]*={{0,2}}): *")
_FAST_PARAM = re.compile(rf";({_P_KEY})(?:=({_P_INT}|{_P_STR}|{_P_TOKEN}|\?[01]))?")
_FAST_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")


@functools.lru_cache(maxsize=128)
def _fast_items(strings: str) -> tuple[Item, ...]:
    # The covered components rarely change between requests: build them once.
    return tuple([Item._make((s, _EMPTY)) for s in strings[1:-1].split('" "')])


def _fast_dictionary(text: str, reject_duplicates: bool) -> dict[str, Item | InnerList] | None:
    text = text.strip(" ")
    if not text.isascii():
        return None
    members: dict[str, Item | InnerList] = {}
    pos, end = 0, len(text)
    new_item = Item._make
    while pos < end:
        match = _FAST_MEMBER.match(text, pos)
        if match is None:
            return None
        key, strings, body, params_text = match.groups()
        params: dict[str, BareItem] = {}
        for name, value in _FAST_PARAM.findall(params_text):
            if name in params and reject_duplicates:
                return None  # let the full parser report it
            first = value[:1]
            if not first:
                params[name] = True
            elif first == '"':
                params[name] = value[1:-1]
            elif first == "?":
                if value == "?1":
                    return None  # canonical form is the bare key: not verbatim
                params[name] = False
            elif first == "-" or first.isdigit():
                params[name] = int(value)
            else:
                params[name] = Token(value)
        frozen = MappingProxyType(params) if params else _EMPTY
        member: Item | InnerList
        if body is not None:
            try:
                value_bytes = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                return None
            if base64.b64encode(value_bytes).decode("ascii") != body:
                return None
            member = new_item((value_bytes, frozen))
        else:
            items = _fast_items(strings) if strings else ()
            member = InnerList._make((items, frozen, text[match.start(2) - 1 : match.end()]))
        if key in members and reject_duplicates:
            return None
        members[key] = member
        pos = match.end()
        if pos == end:
            return members
        separator = _FAST_SEPARATOR.match(text, pos)
        if separator is None or separator.end() == end:
            return None
        pos = separator.end()
    return members


def parse_list(text: str | bytes, *, reject_duplicates: bool = False) -> list[Item | InnerList]:
    """Parse an sf-list field value (RFC 8941 §4.2.1)."""
    parser = _Parser(text, reject_duplicates)
    return parser.list_members()


def parse_item(text: str | bytes, *, reject_duplicates: bool = False) -> Item:
    """Parse an sf-item field value (RFC 8941 §4.2.3)."""
    parser = _Parser(text, reject_duplicates)
    item = parser.item()
    if not parser.at_end():
        raise parser.fail("unexpected text after item")
    return item


# -- serialization (RFC 8941 §4.1) ------------------------------------------------


def serialize_bare_item(value: BareItem) -> str:
    """Serialize one bare item canonically."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > 999_999_999_999_999:
            raise StructuredFieldError("integer out of range")
        return str(value)
    if isinstance(value, Decimal):
        rounded = value.quantize(Decimal("0.001"))
        if abs(rounded) >= Decimal("1000000000000"):
            raise StructuredFieldError("decimal out of range")
        text = format(rounded, "f").rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, Token):
        if not _TOKEN.fullmatch(value):
            raise StructuredFieldError("invalid token")
        return str(value)
    if isinstance(value, str):
        if not value.isascii() or any(c < " " or c == "\x7f" for c in value):
            raise StructuredFieldError("string holds a character outside printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialize {type(value).__name__}")


def _serialize_params(params: Parameters) -> str:
    parts = []
    for key, value in params.items():
        if not _KEY.fullmatch(key):
            raise StructuredFieldError("invalid parameter key")
        parts.append(f";{key}" if value is True else f";{key}={serialize_bare_item(value)}")
    return "".join(parts)


def serialize_item(item: Item) -> str:
    """Serialize an sf-item with its parameters."""
    return serialize_bare_item(item.value) + _serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """Serialize an inner list with its parameters (RFC 9421's ``@signature-params``)."""
    if inner.canonical is not None:
        return inner.canonical
    return (
        "("
        + " ".join(serialize_item(i) for i in inner.items)
        + ")"
        + _serialize_params(inner.params)
    )


def serialize_dictionary(members: Mapping[str, Item | InnerList]) -> str:
    """Serialize an sf-dictionary."""
    parts = []
    for key, member in members.items():
        if not _KEY.fullmatch(key):
            raise StructuredFieldError("invalid dictionary key")
        if isinstance(member, InnerList):
            parts.append(f"{key}={serialize_inner_list(member)}")
        elif member.value is True:
            parts.append(key + _serialize_params(member.params))
        else:
            parts.append(f"{key}={serialize_item(member)}")
    return ", ".join(parts)
