"""Strict JSON objects: the direct scan and the full decode agree, and both are strict."""

from __future__ import annotations

import json

import pytest

from edgeclaims.errors import MalformedHeader
from edgeclaims.strict_json import decode_json_object

ACCEPTED = [
    '{"sub":"alice","groups":["staff"],"exp":1795731872}',
    ' {"sub": "alice"} ',  # whitespace around: the full decode's path
    '\n{"a":{"b":[1,2.5,true,null]}}\t',
    '{"a":"\\u00e9\\"x"}',
    "{}",
]
REFUSED = [
    '{"sub":"alice","sub":"root"}',  # duplicate member
    '{"a":{"b":1,"b":2}}',  # duplicate member, nested
    '{"exp":NaN}',
    '{"exp":-Infinity}',
    '{"a":1}{"b":2}',  # trailing data
    '{"a":1} x',
    '["not", "an", "object"]',
    '"text"',
    "",
    "   ",
    '{"a":',
    "[" * 100_000,  # deep nesting
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted(text: str) -> None:
    assert decode_json_object(text.encode(), "claims") == json.loads(text)


@pytest.mark.parametrize("text", REFUSED, ids=[t[:30] for t in REFUSED])
def test_refused(text: str) -> None:
    with pytest.raises(MalformedHeader, match="the claims is not a JSON object"):
        decode_json_object(text.encode(), "claims")


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(MalformedHeader):
        decode_json_object(b'{"a":"\xff"}', "claims")


@pytest.mark.parametrize("depth", [32, 33, 600])
def test_nesting_is_bounded(depth: int) -> None:
    """Claims a reader would need a deep stack for are refused (found by tests/test_never_500.py)."""
    from edgeclaims.strict_json import MAX_DEPTH

    text = '{"a":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    if depth <= MAX_DEPTH:
        assert decode_json_object(text.encode(), "claims") == json.loads(text)
    else:
        with pytest.raises(MalformedHeader, match=f"nests deeper than {MAX_DEPTH} levels"):
            decode_json_object(text.encode(), "claims")


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = json.dumps({"note": "[" * 100, "groups": ["a", "b"]})
    assert decode_json_object(text.encode(), "claims")["note"] == "[" * 100
