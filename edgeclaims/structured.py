"""A strict RFC 8941 (Structured Field Values for HTTP) parser and serializer.

Our own, because it is the hot path and the attack surface of RFC 9421
verification (``Signature-Input`` and ``Signature`` are dictionaries). Parsing
follows RFC 8941 §4.2 step by step and refuses all it refuses, including the
RFC 9651 additions (``@`` dates, ``%`` display strings). One deliberate extra:
byte sequences must be canonical base64, where §4.2.7 says parsers SHOULD NOT
fail on missing padding or non-zero pad bits: a signature has one encoding.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import TypeAlias

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "Parameters",
    "StructuredFieldError",
    "Token",
    "canonical_base64",
    "parse_dictionary",
    "parse_item",
    "parse_list",
    "serialize_bare_item",
    "serialize_dictionary",
    "serialize_inner_list",
    "serialize_item",
]


class StructuredFieldError(ValueError):
    """A field value RFC 8941 refuses, or a value it cannot serialize."""

    def __init__(self, problem: str, position: int | None = None) -> None:
        self.position = position
        super().__init__(problem if position is None else f"{problem} at position {position}")


class Token(str):
    """An sf-token (RFC 8941 §3.3.4): a ``str`` that serializes without quotes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Token({str.__repr__(self)})"


BareItem: TypeAlias = int | Decimal | str | Token | bytes | bool
Parameters: TypeAlias = Mapping[str, BareItem]

_EMPTY: Parameters = MappingProxyType({})


def _typed(params: Parameters) -> tuple[tuple[str, type[object], BareItem], ...]:
    return tuple([(key, type(value), value) for key, value in params.items()]) if params else ()


# Equality and hashing are type-strict: Token("a") == "a" and True == 1 in
# Python, but they are different structured values and serialize apart.
@dataclass(frozen=True, slots=True, eq=False)
class Item:
    """An Item (RFC 8941 §3.3): a bare item and its parameters."""

    value: BareItem
    params: Parameters

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Item):
            return NotImplemented
        if type(self.value) is not type(other.value) or self.value != other.value:
            return False
        return self.params is other.params or _typed(self.params) == _typed(other.params)

    def __hash__(self) -> int:
        return hash((type(self.value), self.value, _typed(self.params)))


@dataclass(frozen=True, slots=True, eq=False)
class InnerList:
    """An Inner List (RFC 8941 §3.1.1): items in parentheses, and its parameters."""

    items: tuple[Item, ...]
    params: Parameters
    #: The field text, when the parser found this inner list already in
    #: canonical form (so RFC 9421's ``@signature-params`` is not rebuilt);
    #: otherwise None. Set only by the parser; not part of equality.
    canonical: str | None = field(default=None, init=False, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InnerList):
            return NotImplemented
        return self.items == other.items and _typed(self.params) == _typed(other.params)

    def __hash__(self) -> int:
        return hash((self.items, _typed(self.params)))


# The parser fills the slots directly: the frozen __init__ calls
# object.__setattr__ per field, and Items are most of a field's objects.
_set_item_value = Item.__dict__["value"].__set__
_set_item_params = Item.__dict__["params"].__set__


def _item(value: BareItem, params: Parameters) -> Item:
    item = object.__new__(Item)
    _set_item_value(item, value)
    _set_item_params(item, params)
    return item


# Each pattern repeats one character class: linear, nothing to backtrack into.
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?([0-9]+)(?:\.([0-9]*))?")
_PLAIN_STRING = re.compile(r'"([ !#-\[\]-~]*)"')
_STRING_PREFIX = re.compile(r'"(?:[ !#-\[\]-~]|\\["\\])*')  # alternatives start apart
_ESCAPE = re.compile(r'\\(["\\])')
_PRINTABLE = re.compile(r"[ -~]*")
_BASE64_ALPHABET = re.compile(r"[A-Za-z0-9+/=]*")
# The usual parameter, `;key="string"` or `;key=integer` in canonical form, in
# one match; anything else takes the step-by-step path.
_SIMPLE_PARAMETER = re.compile(
    r';([a-z*][a-z0-9_\-.*]*)=(?:"([ !#-\[\]-~]*)"|(0|-?[1-9][0-9]{0,14})(?![0-9.]))'
)
_NUMBER_START = frozenset("-0123456789")


class _Parser:
    """One pass over one field value; ``pos`` indexes ``text``."""

    __slots__ = ("end", "pos", "reject_duplicates", "text", "untidy")

    def __init__(self, value: str | bytes, reject_duplicates: bool) -> None:
        if isinstance(value, bytes):
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError as exc:
                raise StructuredFieldError("non-ASCII byte", exc.start) from None
        elif not isinstance(value, str):
            raise TypeError(f"a field value is str or bytes, not {type(value).__name__}")
        elif not value.isascii():
            first = next(i for i, char in enumerate(value) if char > "\x7f")
            raise StructuredFieldError("non-ASCII character", first)
        # §4.2 steps 2 and 5: leading and trailing SP (not HTAB) are discarded.
        self.end = len(value.rstrip(" ")) if value.endswith(" ") else len(value)
        self.pos = min(len(value) - len(value.lstrip(" ")), self.end)
        # A NUL sentinel: no valid field holds one, so text[pos] stays in range
        # and every comparison with it fails.
        self.text = value[: self.end] + "\x00"
        self.reject_duplicates = reject_duplicates
        self.untidy = 0  # constructs canonical serialization would write otherwise

    def fail(self, problem: str, pos: int) -> StructuredFieldError:
        found = "end of input" if pos >= self.end else repr(self.text[pos])
        return StructuredFieldError(f"{problem}, found {found}", pos)

    # §4.2.1 and §4.2.2: OWS, a comma and OWS between members; none trailing.
    def next_member(self) -> bool:
        text, pos, end = self.text, self.pos, self.end
        while text[pos] == " " or text[pos] == "\t":
            pos += 1
        if pos >= end:
            self.pos = pos
            return False
        if text[pos] != ",":
            raise self.fail("expected ',' between members", pos)
        pos += 1
        while text[pos] == " " or text[pos] == "\t":
            pos += 1
        if pos >= end:
            raise self.fail("expected a member after ','", pos)
        self.pos = pos
        return True

    # §4.2.1
    def list_members(self) -> list[Item | InnerList]:
        members: list[Item | InnerList] = []
        while self.pos < self.end:
            members.append(self.inner_list() if self.text[self.pos] == "(" else self.item())
            if not self.next_member():
                break
        return members

    # §4.2.2
    def dictionary(self) -> dict[str, Item | InnerList]:
        members: dict[str, Item | InnerList] = {}
        text = self.text
        while self.pos < self.end:
            start = self.pos
            match = _KEY.match(text, start)
            if match is None:
                raise self.fail("expected a dictionary key", start)
            self.pos = match.end()
            member: Item | InnerList
            if text[self.pos] == "=":
                self.pos += 1
                member = self.inner_list() if text[self.pos] == "(" else self.item()
            else:
                member = _item(True, self.parameters())
            key = match.group()
            if key in members and self.reject_duplicates:
                raise StructuredFieldError("duplicate dictionary key", start)
            # A repeated key overwrites, in the first one's place: §3.2 and
            # §4.2.2 make the dictionary an ordered map.
            members[key] = member
            if not self.next_member():
                break
        return members

    # §4.2.1.2
    def inner_list(self) -> InnerList:
        text, end = self.text, self.end
        start, untidy = self.pos, self.untidy
        self.pos += 1
        items: list[Item] = []
        while True:
            pos = self.pos
            while text[pos] == " ":
                pos += 1
            spaces = pos - self.pos
            if text[pos] == ")":
                self.untidy += spaces > 0
                self.pos = pos + 1
                inner = InnerList(tuple(items), self.parameters())
                if self.untidy == untidy:
                    object.__setattr__(inner, "canonical", text[start : self.pos])
                return inner
            if pos >= end:
                raise self.fail("expected ')' to close the inner list", pos)
            # Canonical spacing: none after "(", exactly one between items.
            self.untidy += spaces != (1 if items else 0)
            self.pos = pos
            items.append(self.item())
            if text[self.pos] != " " and text[self.pos] != ")":
                raise self.fail("expected ' ' or ')' after an inner-list item", self.pos)

    # §4.2.3
    def item(self) -> Item:
        value = self.bare_item()
        return _item(value, self.parameters() if self.text[self.pos] == ";" else _EMPTY)

    # §4.2.3.1
    def bare_item(self) -> BareItem:
        text, pos = self.text, self.pos
        char = text[pos]
        if char == '"':
            match = _PLAIN_STRING.match(text, pos)
            if match is None:
                return self.escaped_string()
            self.pos = match.end()
            return match.group(1)
        if char in _NUMBER_START:
            return self.number()
        if char == ":":
            return self.byte_sequence()
        if char == "?":  # §4.2.8
            if text[pos + 1] != "0" and text[pos + 1] != "1":
                raise self.fail("expected '0' or '1' after '?'", pos + 1)
            self.pos = pos + 2
            return text[pos + 1] == "1"
        match = _TOKEN.match(text, pos)  # §4.2.6
        if match is not None:
            self.pos = match.end()
            return Token(match.group())
        if char == "@" or char == "%":
            raise self.fail("RFC 9651 dates and display strings are not RFC 8941 items", pos)
        raise self.fail("expected an item", pos)

    # §4.2.3.2
    def parameters(self) -> Parameters:
        text, pos = self.text, self.pos
        if text[pos] != ";":
            return _EMPTY
        params: dict[str, BareItem] = {}
        while text[pos] == ";":
            value: BareItem = True
            match = _SIMPLE_PARAMETER.match(text, pos)
            if match is not None:
                key, string, integer = match.groups()
                value = string if integer is None else int(integer)
                self.pos = match.end()
            else:
                pos += 1
                if text[pos] == " ":
                    self.untidy += 1
                    while text[pos] == " ":
                        pos += 1
                match = _KEY.match(text, pos)
                if match is None:
                    raise self.fail("expected a parameter key", pos)
                key = match.group()
                self.pos = match.end()
                if text[self.pos] == "=":
                    self.pos += 1
                    value = self.bare_item()
                    self.untidy += value is True  # canonical form is the bare key
            if key in params:
                if self.reject_duplicates:
                    raise StructuredFieldError("duplicate parameter key", pos)
                self.untidy += 1
            params[key] = value
            pos = self.pos
        return MappingProxyType(params)

    # §4.2.4
    def number(self) -> int | Decimal:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a digit after '-'", self.pos + 1)
        whole, fraction = match.group(1, 2)
        number = match.group()
        if fraction is None:
            if len(whole) > 15:
                raise self.fail("integer has more than 15 digits", self.pos)
            self.untidy += (len(whole) > 1 and whole[0] == "0") or number == "-0"
            self.pos = match.end()
            return int(number)
        if len(whole) > 12:
            raise self.fail("decimal has more than 12 integer digits", self.pos)
        if not fraction:
            raise self.fail("decimal ends with '.'", match.end())
        if len(fraction) > 3:
            raise self.fail("decimal has more than 3 fractional digits", self.pos)
        value = Decimal(number)
        self.untidy += serialize_bare_item(value) != number
        self.pos = match.end()
        return value

    # §4.2.5, for a string with escapes (or a bad one)
    def escaped_string(self) -> str:
        text = self.text
        match = _STRING_PREFIX.match(text, self.pos)
        if match is None or text[match.end()] != '"':
            stop = match.end() if match else self.pos
            if stop >= self.end:
                raise self.fail("expected '\"' to close the string", stop)
            if text[stop] == "\\":
                raise self.fail("invalid escape in string", stop + 1)
            raise self.fail("invalid character in string", stop)
        self.pos = match.end() + 1
        return _ESCAPE.sub(r"\1", match.group()[1:])

    # §4.2.7
    def byte_sequence(self) -> bytes:
        start = self.pos + 1
        close = self.text.find(":", start, self.end)
        if close < 0:
            raise self.fail("expected ':' to close the byte sequence", self.end)
        body = self.text[start:close]
        try:
            value = binascii.a2b_base64(body)  # lenient: the check below is not
        except binascii.Error:
            value = b"\x00"  # never re-encodes to a body that fails to decode
        if binascii.b2a_base64(value, newline=False) != body.encode("ascii"):
            if not _BASE64_ALPHABET.fullmatch(body):
                raise self.fail("invalid character in byte sequence", start)
            raise self.fail("byte sequence is not canonical padded base64", start)
        self.pos = close + 1
        return value


def parse_dictionary(
    text: str | bytes, *, reject_duplicates: bool = False
) -> dict[str, Item | InnerList]:
    """Parse a Dictionary field value (RFC 8941 §4.2.2); an empty field gives ``{}``.

    **Security:** per the RFC a repeated key or parameter silently replaces
    the earlier one; ``reject_duplicates=True`` refuses the field instead.
    """
    return _Parser(text, reject_duplicates).dictionary()


# -- canonical byte sequences ----------------------------------------------------


def canonical_base64(body: str) -> bytes | None:
    """The bytes of a byte sequence's base64 text (§3.3.5) written canonically, else None.

    For readers that matched the text's shape themselves (RFC 9421's usual
    ``Signature`` member): padding or pad bits other than the canonical
    serialization's give None, and :func:`parse_dictionary` decides.
    """
    try:
        value = binascii.a2b_base64(body)
    except ValueError:  # binascii.Error, or text that is not ASCII
        return None
    if binascii.b2a_base64(value, newline=False) != body.encode("ascii"):
        return None
    return value


def parse_list(text: str | bytes, *, reject_duplicates: bool = False) -> list[Item | InnerList]:
    """Parse a List field value (RFC 8941 §4.2.1); an empty field gives ``[]``."""
    return _Parser(text, reject_duplicates).list_members()


def parse_item(text: str | bytes, *, reject_duplicates: bool = False) -> Item:
    """Parse an Item field value (RFC 8941 §4.2.3)."""
    parser = _Parser(text, reject_duplicates)
    item = parser.item()
    if parser.pos < parser.end:
        raise parser.fail("expected end of field after the item", parser.pos)
    return item


def serialize_bare_item(value: BareItem) -> str:
    """Serialize a bare item canonically (RFC 8941 §4.1.3.1)."""
    if isinstance(value, str):
        if isinstance(value, Token):
            if _TOKEN.fullmatch(value) is None:
                raise StructuredFieldError("not a valid token")
            return str.__str__(value)
        # §4.1.6: printable ASCII only; only '"' and '\' are escaped.
        if _PRINTABLE.fullmatch(value) is None:
            raise StructuredFieldError("string holds a character outside printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if not -999_999_999_999_999 <= value <= 999_999_999_999_999:
            raise StructuredFieldError("integer outside ±999,999,999,999,999")
        return str(value)
    if isinstance(value, Decimal):
        return _serialize_decimal(value)
    if isinstance(value, bytes):
        return ":" + binascii.b2a_base64(value, newline=False).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialize {type(value).__name__} as a bare item")


_DECIMAL_LIMIT = Decimal(10**12)


def _serialize_decimal(value: Decimal) -> str:
    # §4.1.5: round half to even at three places; then at most 12 integer digits.
    if value.is_finite() and abs(value) < _DECIMAL_LIMIT:
        rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
        if abs(rounded) < _DECIMAL_LIMIT:
            whole, _, fraction = format(abs(rounded), "f").partition(".")
            sign = "-" if rounded < 0 else ""  # -0.000 is not below zero
            return f"{sign}{whole}.{fraction.rstrip('0') or '0'}"
    raise StructuredFieldError("decimal outside ±999,999,999,999.999")


def _serialize_key(key: str) -> str:
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise StructuredFieldError("not a valid key")
    return key


def _serialize_parameters(params: Parameters) -> str:
    # §4.1.1.2: a true parameter is its bare key.
    return "".join(
        ";" + _serialize_key(key)
        if value is True
        else f";{_serialize_key(key)}={serialize_bare_item(value)}"
        for key, value in params.items()
    )


def serialize_item(item: Item) -> str:
    """Serialize an Item with its parameters (RFC 8941 §4.1.3)."""
    return serialize_bare_item(item.value) + _serialize_parameters(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    """Serialize an Inner List with its parameters (RFC 8941 §4.1.1.1).

    This is the value of RFC 9421's ``@signature-params``.
    """
    if inner.canonical is not None:
        return inner.canonical
    items = " ".join([serialize_item(item) for item in inner.items])
    return f"({items}){_serialize_parameters(inner.params)}"


def serialize_dictionary(d: Mapping[str, Item | InnerList]) -> str:
    """Serialize a Dictionary (RFC 8941 §4.1.2); an empty one gives ``""``."""
    members = []
    for key, member in d.items():
        name = _serialize_key(key)
        if isinstance(member, InnerList):
            members.append(f"{name}={serialize_inner_list(member)}")
        elif not isinstance(member, Item):
            raise StructuredFieldError("a dictionary member is an Item or an InnerList")
        elif member.value is True:  # §4.1.2: a true member is its bare key
            members.append(name + _serialize_parameters(member.params))
        else:
            members.append(f"{name}={serialize_item(member)}")
    return ", ".join(members)
