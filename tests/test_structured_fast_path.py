"""The fast path for signature headers gives exactly what the full parser gives.

``parse_dictionary`` tries a regex fast path for canonical signature headers
first; these tests hold it to the step-by-step parser on generated
signature-shaped fields and on mutations of them (one character changed,
inserted or removed), including whether the text counts as canonical.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeclaims import structured
from edgeclaims.structured import StructuredFieldError, _Parser

KEYS = st.from_regex(r"[a-z*][a-z0-9_\-.*]{0,6}", fullmatch=True)
STRINGS = st.from_regex(r'"[ !#-\[\]-~]{0,8}"', fullmatch=True)
VALUES = st.one_of(
    STRINGS,
    st.integers(-(10**15) + 1, 10**15 - 1).map(str),
    st.from_regex(r"[A-Za-z*][A-Za-z0-9:/]{0,5}", fullmatch=True),
    st.sampled_from(["?0", "?1", "01", "1.5", '"a\\"b"', ":AA==:"]),
)
PARAMS = st.lists(st.tuples(KEYS, st.one_of(st.none(), VALUES)), max_size=5).map(
    lambda pairs: "".join(f";{k}" if v is None else f";{k}={v}" for k, v in pairs)
)
INNER = st.lists(STRINGS, max_size=5).map(lambda items: "(" + " ".join(items) + ")")
BYTES = st.binary(max_size=40).map(lambda b: ":" + __import__("base64").b64encode(b).decode() + ":")
MEMBER = st.tuples(KEYS, st.one_of(INNER, BYTES), PARAMS).map(lambda m: f"{m[0]}={m[1]}{m[2]}")
FIELD = st.lists(MEMBER, min_size=1, max_size=3).flatmap(
    lambda members: st.sampled_from([", ", ",", " ,\t"]).map(lambda sep: sep.join(members))
)


def _outcome(parse: Any) -> tuple[str, Any]:
    try:
        result = parse()
    except StructuredFieldError:
        return ("error", None)
    canonical = {k: getattr(v, "canonical", "item") for k, v in result.items()}
    return ("ok", (result, canonical))


def _mutate(text: str, data: st.DataObject) -> str:
    if not text:
        return text
    index = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from(list(' ;=,()":?*-aZ0\t\\')))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        return text[:index] + char + text[index + 1 :]
    if kind == "insert":
        return text[:index] + char + text[index:]
    return text[:index] + text[index + 1 :]


@settings(max_examples=400, deadline=None)
@given(field=FIELD, data=st.data(), reject=st.booleans(), mutate=st.booleans())
def test_fast_path_agrees_with_the_full_parser(
    field: str, data: st.DataObject, reject: bool, mutate: bool
) -> None:
    text = _mutate(field, data) if mutate else field
    fast = _outcome(lambda: structured.parse_dictionary(text, reject_duplicates=reject))
    full = _outcome(lambda: _Parser(text, reject).dictionary())
    assert fast == full


def test_typical_signature_input_takes_the_fast_path() -> None:
    text = (
        'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
        'nonce="b3k2Hq9xT1mR";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"'
    )
    fast = structured._fast_dictionary(text, True)
    assert fast is not None
    assert fast["edge"].canonical == text[5:]
    again = structured._fast_dictionary(text.replace("1795731572", "1795731573"), True)
    assert again is not None
    # One shared tuple per distinct component list (sources cache by identity).
    assert again["edge"].items is fast["edge"].items
