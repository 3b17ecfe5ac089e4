"""How one claim value is found and compared: paths, JSON text, globs.

Everything here is shared by the two evaluators that must agree — this one
and the EdgeWorker's JavaScript — so each rule is written the way
JavaScript would compute it: numbers compare by the text ``String(n)``
gives, globs compile to a regular expression both engines read the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeGuard

__all__ = [
    "ABSENT",
    "compile_glob",
    "glob_regex",
    "has_wildcard",
    "is_array",
    "is_object",
    "leaf_values",
    "scalar_text",
]

#: Marks a claim that is not there, as opposed to one that is ``null``.
ABSENT: object = object()

# Integers beyond 2**53 lose precision in JavaScript; they compare by the
# text JavaScript would give the rounded double, so both evaluators agree.
_MAX_SAFE_INTEGER = 2**53

# ECMAScript "syntax characters": escaping exactly these keeps the regular
# expression valid for Python ``re`` and for a JavaScript RegExp with the
# ``u`` flag (which refuses needless escapes such as ``\-``).
_REGEX_SYNTAX = frozenset("^$\\.*+?()[]{}|")

# ``.`` skips newlines in JavaScript; ``[\s\S]`` is one code point in both.
_ANY_CHAR = r"[\s\S]"


def is_object(value: object) -> TypeGuard[Mapping[object, object]]:
    """Whether a claim value is a JSON object (any read-only Mapping too)."""
    return type(value) is dict or isinstance(value, Mapping)


def is_array(value: object) -> TypeGuard[Sequence[object]]:
    """Whether a claim value is a JSON array (any Sequence but text and bytes)."""
    if type(value) is list or type(value) is tuple:
        return True
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def scalar_text(value: object) -> str | None:
    """The text a claim value compares by; None for objects and arrays, which never match.

    Strings are themselves; ``true``, ``false``, ``null`` and numbers are
    their JSON text as JavaScript writes it (``1.0`` is ``1``, ``1e21`` is
    ``1e+21``).
    """
    if isinstance(value, str):
        return str(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return str(int(value))
        try:
            return _number_text(float(value))
        except OverflowError:
            # JSON.parse turns such a literal into ±Infinity.
            return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, float):
        return _number_text(float(value))
    return None


def _number_text(number: float) -> str:
    """``String(number)`` of ECMAScript (Number::toString, ECMA-262 §6.1.6.1.20)."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"  # -0 too
    if number < 0:
        return "-" + _number_text(-number)
    # repr() gives the shortest digits that round-trip, as ECMAScript asks;
    # only the layout differs, so rebuild it from digits and exponent.
    mantissa, _, exponent_text = repr(number).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    significant = digits.rstrip("0")
    exponent = int(exponent_text or "0") - len(fraction) + len(digits) - len(significant)
    k = len(significant)
    n = exponent + k  # the value is 0.<significant> × 10**n
    if k <= n <= 21:
        return significant + "0" * (n - k)
    if 0 < n <= 21:
        return f"{significant[:n]}.{significant[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + significant
    sign = "+" if n - 1 >= 0 else "-"
    head = significant if k == 1 else f"{significant[0]}.{significant[1:]}"
    return f"{head}e{sign}{abs(n - 1)}"


def has_wildcard(pattern: str) -> bool:
    """Whether a pattern is a glob (contains ``*`` or ``?``)."""
    return "*" in pattern or "?" in pattern


def glob_regex(glob: str, *, open_tail: bool = False) -> str:
    """The regular expression (without anchors) of a glob; same meaning in Python and JavaScript.

    ``*`` is any run of characters (``/`` included), ``?`` exactly one.
    With ``open_tail`` a trailing ``/*`` also matches the bare prefix.
    """
    tail = ""
    if open_tail and glob.endswith("/*"):
        glob, tail = glob[:-2], f"(?:/{_ANY_CHAR}*)?"
    parts = []
    for char in glob:
        if char == "*":
            parts.append(f"{_ANY_CHAR}*")
        elif char == "?":
            parts.append(_ANY_CHAR)
        elif char in _REGEX_SYNTAX:
            parts.append("\\" + char)
        else:
            parts.append(char)
    return "".join(parts) + tail


def compile_glob(glob: str, *, open_tail: bool = False) -> Callable[[str], bool]:
    """A whole-value, case-sensitive matcher for a glob (literal when it has no wildcard).

    The common shapes (literal, ``prefix*``, ``*suffix``, ``/prefix/*``)
    become string methods; the rest a compiled regular expression.
    """
    if open_tail and glob.endswith("/*") and not has_wildcard(glob[:-2]):
        prefix = glob[:-2]
        below = prefix + "/"
        return lambda text: text == prefix or text.startswith(below)
    if not has_wildcard(glob):
        return lambda text: text == glob
    if "?" not in glob and glob.count("*") == 1:
        head, _, tail = glob.partition("*")
        if not tail:
            return lambda text: text.startswith(head)
        least = len(head) + len(tail)
        return lambda text: len(text) >= least and text.startswith(head) and text.endswith(tail)
    fullmatch = re.compile(glob_regex(glob, open_tail=open_tail)).fullmatch
    return lambda text: fullmatch(text) is not None


def leaf_values(claims: object, path: Sequence[str]) -> list[object]:
    """The values a rule on ``path`` compares, in claim order.

    Each step takes the member of an object; an array met on the way is
    entered one level (the member of each element that is an object), and
    an array at the end gives its elements. An absent member gives nothing;
    a ``null`` member is the value ``None``.
    """
    nodes: list[object] = [claims]
    for segment in path:
        found: list[object] = []
        for node in nodes:
            if is_object(node):
                _take(node, segment, found)
            elif is_array(node):
                for element in node:
                    if is_object(element):
                        _take(element, segment, found)
        if not found:
            return found
        nodes = found
    leaves: list[object] = []
    for node in nodes:
        if is_array(node):
            leaves.extend(node)
        else:
            leaves.append(node)
    return leaves


def _take(node: Mapping[object, object], segment: str, found: list[object]) -> None:
    value = node.get(segment, ABSENT)
    if value is not ABSENT:
        found.append(value)
