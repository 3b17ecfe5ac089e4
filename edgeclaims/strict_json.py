"""Strict JSON for identity documents: UTF-8, one object, no duplicate members.

Two parsers that disagree on which duplicate member wins are a classic way to
smuggle a second identity past one of them (the edge reads one ``sub``, the
origin another), so a duplicate is refused, as are ``NaN`` and ``Infinity``,
which are not JSON. Objects and arrays nest at most :data:`MAX_DEPTH`
levels: deeper claims are no identity document, and every reader after this
one (the application's included) would need a stack to match. Shared by
the RFC 9421 claims header and JWS payloads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

from edgeclaims.errors import MalformedHeader

__all__ = ["MAX_DEPTH", "decode_json_object"]

#: The deepest nesting of objects and arrays accepted (the top object is level 1).
MAX_DEPTH = 32


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member")
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads with hooks would build a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constant)
#: The decoder's own scanner (same hooks), for text with no whitespace around it.
# (typeshed declares make_scanner as the C scanner class, whose constructor takes the decoder.)
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_DECODER)  # type: ignore[arg-type]


def decode_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A UTF-8 JSON object without duplicate members, or ``MalformedHeader``."""
    try:
        text = raw.decode("utf-8")
        # An edge writes the object with no whitespace around it: scan it
        # directly. Anything else (surrounding whitespace, trailing data, an
        # error) takes decode(), which skips whitespace and names the error.
        try:
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError):
            end = -1
        if end != len(text):
            value = _DECODER.decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedHeader(f"the {what} is not a JSON object") from None
    if not isinstance(value, dict):
        raise MalformedHeader(f"the {what} is not a JSON object")
    # Counting brackets (in strings too) bounds the depth from above: only
    # text with that many of them needs the walk.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise MalformedHeader(f"the {what} nests deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: object) -> int:
    """How deeply objects and arrays nest in decoded JSON (iteratively: no recursion)."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        node, level = pending.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            pending.extend((child, level + 1) for child in node.values() if type(child) in _NESTS)
        elif isinstance(node, list):
            pending.extend((child, level + 1) for child in node if type(child) in _NESTS)
    return deepest


_NESTS = (dict, list)
