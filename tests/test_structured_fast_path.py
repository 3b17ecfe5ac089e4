"""The canonical-member matchers agree with the step-by-step parser.

``canonical_inner_list_member`` and ``canonical_byte_sequence_member`` are
the RFC 9421 verifier's hot path: one regex match instead of a parse. These
tests hold them to ``parse_dictionary`` on generated signature-shaped fields
and on mutations of them (one character changed, inserted or removed): when
a matcher answers, the parser gives the same member and the text is its own
canonical serialization; when the text is in the matcher's shape, it answers.
"""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeclaims import structured
from edgeclaims.structured import InnerList, Item, StructuredFieldError, Token

KEYS = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,6}", fullmatch=True)
STRINGS = st.from_regex(r'"[ !#-\[\]-~]{0,8}"', fullmatch=True)
VALUES = st.one_of(
    STRINGS,
    st.integers(-(10**15) + 1, 10**15 - 1).map(str),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9:/]{0,5}", fullmatch=True),
    st.sampled_from(["?0", "?1", "01", "-0", "1.5", '"a\\"b"', '"a;b"', '";"', ":AA==:"]),
)
PARAMS = st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=5).map(
    lambda pairs: "".join(f";{k}" if v is None else f";{k}={v}" for k, v in pairs)
)
INNER = st.lists(STRINGS, max_size=5).map(lambda items: "(" + " ".join(items) + ")")
INNER_MEMBER = st.tuples(KEYS, INNER, PARAMS).map(lambda m: f"{m[0]}={m[1]}{m[2]}")
BYTES = st.binary(max_size=40).map(lambda b: ":" + base64.b64encode(b).decode() + ":")
BYTES_MEMBER = st.tuples(KEYS, BYTES).map(lambda m: f"{m[0]}={m[1]}")


def _mutate(text: str, data: st.DataObject) -> str:
    index = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from(list(' ;=,()":?*-aZ0\t\\+/')))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        return text[:index] + char + text[index + 1 :]
    if kind == "insert":
        return text[:index] + char + text[index:]
    return text[:index] + text[index + 1 :]


def _parse(text: str) -> dict[str, Item | InnerList] | None:
    try:
        return structured.parse_dictionary(text, reject_duplicates=True)
    except StructuredFieldError:
        return None


def _the_member(text: str, key: str) -> Item | InnerList:
    """What the parser finds under ``key``, failing unless that is the text's only member."""
    parsed = _parse(text)
    assert parsed is not None
    assert list(parsed) == [key]
    return parsed[key]


def _lone_member(text: str) -> Item | InnerList | None:
    """The member of a valid one-member field without surrounding spaces, else None."""
    parsed = _parse(text)
    if parsed is None or len(parsed) != 1 or text != text.strip():
        return None
    return next(iter(parsed.values()))


@settings(max_examples=600, deadline=None)
@given(field=INNER_MEMBER, data=st.data(), mutate=st.booleans())
def test_inner_list_matcher_agrees_with_the_parser(
    field: str, data: st.DataObject, mutate: bool
) -> None:
    text = _mutate(field, data) if mutate else field
    fast = structured.canonical_inner_list_member(text)
    if fast is not None:
        key, names, raw_params, inner_text = fast
        member = _the_member(text, key)
        assert isinstance(member, InnerList)
        assert all(type(i.value) is str and not i.params for i in member.items)
        assert tuple(i.value for i in member.items) == names
        # Each parameter as its value's canonical text ("" for true).
        assert list(raw_params.items()) == [
            (k, "" if v is True else structured.serialize_bare_item(v))
            for k, v in member.params.items()
        ]
        assert member.canonical == inner_text
        assert structured.serialize_inner_list(member) == inner_text
        return
    # Not answered: then the text is not in the matcher's shape.
    lone = _lone_member(text)
    in_shape = (
        isinstance(lone, InnerList)
        and "\\" not in text
        and lone.canonical is not None
        and all(type(i.value) is str and not i.params for i in lone.items)
        and all(type(v) in (int, str, Token, bool) for v in lone.params.values())
    )
    assert not in_shape, text


@settings(max_examples=400, deadline=None)
@given(field=BYTES_MEMBER, data=st.data(), mutate=st.booleans())
def test_byte_sequence_matcher_agrees_with_the_parser(
    field: str, data: st.DataObject, mutate: bool
) -> None:
    text = _mutate(field, data) if mutate else field
    fast = structured.canonical_byte_sequence_member(text)
    if fast is not None:
        key, value = fast
        member = _the_member(text, key)
        assert isinstance(member, Item)
        assert member.value == value
        assert not member.params
        return
    lone = _lone_member(text)
    assert not (isinstance(lone, Item) and type(lone.value) is bytes and not lone.params), text


def test_typical_signature_headers_take_the_fast_path() -> None:
    text = (
        'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
        'nonce="b3k2Hq9xT1mR";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"'
    )
    fast = structured.canonical_inner_list_member(text)
    assert fast is not None
    assert fast[0] == "edge"
    assert fast[1] == ("@method", "@authority", "@path", "@query", "x-edge-claims")
    assert fast[2]["created"] == "1795731572"
    assert fast[2]["tag"] == '"edgeclaims"'
    assert fast[3] == text[5:]
    signature = structured.canonical_byte_sequence_member("edge=:AAEC:")
    assert signature == ("edge", b"\x00\x01\x02")


def test_non_canonical_signature_headers_are_left_to_the_parser() -> None:
    for text in (
        'edge=("@method");created=01',  # leading zero
        'edge=( "@method");created=1',  # space after "("
        'edge=("@method");tag="a";tag="b"',  # repeated parameter
        'edge=("@method");flag=?1',  # a true parameter is its bare key
        'edge=("@method"), other=("@path")',  # two members
    ):
        assert structured.canonical_inner_list_member(text) is None, text
    for text in ("edge=:AAF=:", "edge=:AAEC:;x=1", "edge=:AAE:", "edge=:AAEC:, e=:AA==:"):
        assert structured.canonical_byte_sequence_member(text) is None, text
