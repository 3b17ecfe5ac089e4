"""``read_signature``: the usual headers read in one pass give what the strict parser gives.

The reader tries two fixed canonical-member patterns first and the strict
RFC 8941 parser otherwise. A leading space is valid RFC 8941 (the parser
discards it) but never matches the patterns, so reading ``" " + text`` is
reading ``text`` through the strict parser: these tests hold the two paths
to the same answer — the same ``Signature``, or the same refusal code — on
generated headers, without looking inside the reader.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from edgeclaims.errors import VerificationError
from edgeclaims.sources.rfc9421_reader import Signature, read_signature

REQUIRED = ("@method", "@path", "@query", "x-edge-claims")
TAG = "edgeclaims"

COMPONENTS = st.sampled_from(
    ["@method", "@authority", "@path", "@query", "x-edge-claims", "@status", "X-Up", "date"]
)
PARAM_VALUES = st.sampled_from(
    ["1795731572", "-5", '"2026-11"', '""', '"edgeclaims"', '"a;b"', "tok", "?0", "1.5", None]
)
PARAM_NAMES = st.sampled_from(["created", "keyid", "nonce", "expires", "alg", "tag", "extra"])
PARAMS = st.lists(st.tuples(PARAM_NAMES, PARAM_VALUES), max_size=7).map(
    lambda pairs: "".join(f";{k}" if v is None else f";{k}={v}" for k, v in pairs)
)
CHANGES = [
    "drop a component",
    "add a component",
    "add parameters",
    "drop parameters",
    "change the tag",
    "change the signature",
    "change the signature member",
]


@st.composite
def headers(draw: Any) -> tuple[str, str]:
    """A valid pair of headers, with up to two of its parts changed."""
    changed = set(draw(st.lists(st.sampled_from(CHANGES), max_size=2)))
    names = draw(st.permutations(list(REQUIRED)))
    if "drop a component" in changed:
        names = names[1:]
    if "add a component" in changed:
        names = [*names, draw(COMPONENTS)]
    params = ';created=1795731572;keyid="2026-11";nonce="n1"'
    if "add parameters" in changed:
        params += draw(PARAMS)
    if "drop parameters" in changed:
        params = ""
    tag = f';tag="{TAG}"'
    if "change the tag" in changed:
        tag = draw(st.sampled_from([f";tag={TAG}", ';tag="x"', ""]))
    inner = "(" + " ".join(f'"{n}"' for n in names) + ")"
    signature_input = f"edge={inner}{params}{tag}"
    body = base64.b64encode(draw(st.binary(max_size=40))).decode()
    if "change the signature" in changed:
        body = draw(st.sampled_from([body.rstrip("="), body + "=", body + "A", body[1:]]))
    signature = f"edge=:{body}:"
    if "change the signature member" in changed:
        signature = draw(
            st.sampled_from([f"sig2=:{body}:", f"{signature};x=1", f"{signature}, a=?0"])
        )
    return signature_input, signature


def read(signature_input: str, signature: str) -> Signature | str:
    """The signature read, or the code that refused it."""
    try:
        return read_signature(signature_input, signature, tag=TAG, required=REQUIRED)
    except VerificationError as exc:
        return exc.code


@pytest.mark.slow  # fixed example counts: under CI's first Python only
@settings(max_examples=800, deadline=None)
@given(pair=headers())
def test_both_paths_read_the_same(pair: tuple[str, str]) -> None:
    direct = read(*pair)
    strict = read(" " + pair[0], " " + pair[1])
    event("read" if isinstance(direct, Signature) else f"refused: {direct}")
    assert direct == strict


def _mutate(text: str, data: st.DataObject) -> str:
    index = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from(list(' ;=,()":?*-aZ0\t\\+/')))
    kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    if kind == "replace":
        return text[:index] + char + text[index + 1 :]
    if kind == "insert":
        return text[:index] + char + text[index:]
    return text[:index] + text[index + 1 :]


USUAL = (
    'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
    'expires=1795731602;nonce="b3k2Hq9xT1mR";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"',
    "edge=:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=:",
)


@pytest.mark.slow  # fixed example counts: under CI's first Python only
@settings(max_examples=1500, deadline=None)
@given(data=st.data(), which=st.sampled_from([0, 1, 2]))
def test_one_character_changed_reads_the_same_both_ways(data: st.DataObject, which: int) -> None:
    """Mutations of the usual headers: each path reads or refuses them alike."""
    signature_input, signature = USUAL
    if which in (0, 2):
        signature_input = _mutate(signature_input, data)
    if which in (1, 2):
        signature = _mutate(signature, data)
    direct = read(signature_input, signature)
    assert direct == read(" " + signature_input, " " + signature)


def test_the_usual_headers() -> None:
    signature = read_signature(
        'edge=("@method" "@path" "@query" "x-edge-claims");created=1795731572;'
        'keyid="2026-11";nonce="n1";tag="edgeclaims"',
        "edge=:AAEC:",
        tag=TAG,
        required=REQUIRED,
    )
    assert signature == Signature(
        label="edge",
        components=("@method", "@path", "@query", "x-edge-claims"),
        created=1795731572,
        key_id="2026-11",
        nonce="n1",
        expires=None,
        alg=None,
        params_text='("@method" "@path" "@query" "x-edge-claims");created=1795731572;'
        'keyid="2026-11";nonce="n1";tag="edgeclaims"',
        value=b"\x00\x01\x02",
    )


def test_the_signature_params_text_is_the_canonical_serialization() -> None:
    # Extra spaces around members are valid; @signature-params is re-serialized.
    signature = read_signature(
        ' other=("@method");created=1;keyid="k";tag="x",  edge=("@method" "@path" "@query" '
        '"x-edge-claims");keyid="2026-11";created=1795731572;tag="edgeclaims"',
        "edge=:AAEC:, other=:AAAA:",
        tag=TAG,
        required=REQUIRED,
    )
    assert signature.params_text == (
        '("@method" "@path" "@query" "x-edge-claims");keyid="2026-11";created=1795731572;'
        'tag="edgeclaims"'
    )


REFUSAL_ORDER = [
    # The first offending component decides the code, in the order covered.
    ('edge=("@method" "@path" "@query" "x-edge-claims" "@foo" tok)', "unsupported"),
    ('edge=("@method" "@path" "@query" "x-edge-claims" "X-Up" "a";sf)', "malformed"),
    ('edge=("@method" "@path" "@query" "x-edge-claims" tok "@foo")', "malformed"),
    ('edge=("@method" "@path" "@query" "x-edge-claims" "a";sf "X-Up")', "unsupported"),
    ('edge=("@method" "@path" "@path" "@query" "x-edge-claims")', "malformed"),
    ('edge=("@method" "@query" "x-edge-claims")', "insufficient_coverage"),
]


@pytest.mark.parametrize(("inner", "code"), REFUSAL_ORDER)
def test_component_checks_run_in_covered_order(inner: str, code: str) -> None:
    signature_input = inner + ';created=1795731572;keyid="2026-11";nonce="n";tag="edgeclaims"'
    assert read(signature_input, "edge=:AAEC:") == code


@pytest.mark.parametrize(
    ("signature_input", "signature", "code"),
    [
        pytest.param('edge=("@method");tag="x"', "edge=:AAEC:", "missing", id="other-tag"),
        pytest.param(
            'a=("@method");tag="edgeclaims", b=("@method");tag="edgeclaims"',
            "a=:AAEC:, b=:AAEC:",
            "ambiguous",
            id="two-tagged",
        ),
        pytest.param(
            'edge=("@method");tag="edgeclaims", edge=("@path");tag="edgeclaims"',
            "edge=:AAEC:",
            "ambiguous",
            id="label-twice",
        ),
        pytest.param('edge=("@method"', "edge=:AAEC:", "malformed", id="garbage"),
    ],
)
def test_refusals(signature_input: str, signature: str, code: str) -> None:
    assert read(signature_input, signature) == code
