"""The RFC 9421 source's one-pass selection gives exactly what the full parse gives.

``RFC9421Source._select_canonical`` handles the usual headers (one canonical
member in each) without building structured-field objects; anything it does
not recognise goes to ``_select``. These tests hold the two to the same
answer on generated headers, and run the shared request table with the fast
path switched off to show it changes no verdict.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from tables import NOW, ORIGIN, cases, config_mapping, signed

from edgeclaims import structured
from edgeclaims.config import Config, load_config
from edgeclaims.engine import Engine
from edgeclaims.errors import VerificationError
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421 import RFC9421Source, _canonical_signature_parameters
from edgeclaims.sources.rfc9421_base import plan_base
from edgeclaims.sources.rfc9421_shapes import Shape
from edgeclaims.testing import build_asgi_scope

CONFIG = load_config(config_mapping())
SOURCE = CONFIG.sources[0]
assert isinstance(SOURCE, RFC9421Source)

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


@st.composite
def headers(draw: Any) -> tuple[str, str]:
    """A valid pair of headers, with up to two of its parts changed."""
    changed = set(draw(st.lists(st.sampled_from(CHANGES), max_size=2)))
    label = "edge"
    names = draw(st.permutations(list(SOURCE.required_components)))
    if "drop a component" in changed:
        names = names[1:]
    if "add a component" in changed:
        names = [*names, draw(COMPONENTS)]
    params = ';created=1795731572;keyid="2026-11";nonce="n1"'
    if "add parameters" in changed:
        params += draw(PARAMS)
    if "drop parameters" in changed:
        params = ""
    tag = ';tag="edgeclaims"'
    if "change the tag" in changed:
        tag = draw(st.sampled_from([";tag=edgeclaims", ';tag="x"', ""]))
    inner = "(" + " ".join(f'"{n}"' for n in names) + ")"
    signature_input = f"{label}={inner}{params}{tag}"
    body = base64.b64encode(draw(st.binary(max_size=40))).decode()
    if "change the signature" in changed:
        body = draw(st.sampled_from([body.rstrip("="), body + "=", body + "A", body[1:]]))
    signature = f"{label}=:{body}:"
    if "change the signature member" in changed:
        signature = draw(
            st.sampled_from([f"sig2=:{body}:", f"{signature};x=1", f"{signature}, a=?0"])
        )
    return signature_input, signature


CHANGES = [
    "drop a component",
    "add a component",
    "add parameters",
    "drop parameters",
    "change the tag",
    "change the signature",
    "change the signature member",
]


def _general(signature_input: str, signature: str) -> Any:
    try:
        return SOURCE._select(signature_input, signature)
    except VerificationError as exc:
        return ("refused", exc.code)


@settings(max_examples=800, deadline=None)
@given(pair=headers())
def test_fast_selection_agrees_with_the_full_parse(pair: tuple[str, str]) -> None:
    fast = SOURCE._select_canonical(*pair)
    event("fast path" if fast is not None else "full parse")
    if fast is not None:
        assert fast[:6] == _general(*pair)[:6]


def test_usual_headers_take_the_fast_path() -> None:
    signature_input = (
        'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
        'nonce="n1";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"'
    )
    fast = SOURCE._select_canonical(signature_input, "edge=:AAEC:")
    assert fast is not None
    assert fast[3] == (1795731572, "2026-11", "n1", None, "hmac-sha256")
    assert fast[:6] == SOURCE._select(signature_input, "edge=:AAEC:")[:6]


def _verdicts(config: Config) -> list[tuple[str, str | None]]:
    engine = Engine(config, clock=lambda: NOW)
    found = []
    for case in cases():
        view = RequestView.from_asgi(build_asgi_scope(case.method, case.url, case.headers))
        found.append((case.id, engine.decide(view).code))
    return found


def test_the_table_gives_the_same_verdicts_without_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(config_mapping())
    source = config.sources[0]
    assert isinstance(source, RFC9421Source)
    assert not source._shapes
    learning = _verdicts(config)  # shapes are learned on the way
    assert source._shapes
    learned = _verdicts(config)  # now read through the learned shapes
    monkeypatch.setattr(RFC9421Source, "_select_canonical", lambda self, i, s: None)
    assert _verdicts(config) == learning == learned
    assert {code for _, code in learning} > {None}  # accepted and refused cases both ran


TYPICAL = (
    'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
    'nonce="n1";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"'
)
SHAPE_VALUES = {
    "created": ["1795731572", "0", "-7", "01", "-0", "1" * 16, '"1"', "1.5", "1" * 15],
    "nonce": ['"n1"', '"n2"', '""', '"a;b"', '"a\\"b"', "tok", "?0", "5"],
    "keyid": ['"2026-11"', '"2026-12"', '""', "k", '"k k"'],
    "alg": ['"hmac-sha256"', '"ecdsa-p256-sha256"', '""', "hmac", "1"],
    "tag": ['"edgeclaims"', '"other"', "edgeclaims", '"edgeclaims2"'],
}


def _learned_shape() -> Shape:
    member = structured.canonical_inner_list_member(TYPICAL)
    assert member is not None
    label, names, raw, _ = member
    components = SOURCE._check_components(names)
    return Shape(label, components, plan_base(components), raw)


@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_a_learned_shape_reads_what_the_canonical_path_reads(data: st.DataObject) -> None:
    shape = _learned_shape()
    changed = data.draw(st.sets(st.sampled_from(list(SHAPE_VALUES)), max_size=2))
    values = {
        name: data.draw(st.sampled_from(choices)) if name in changed else choices[0]
        for name, choices in SHAPE_VALUES.items()
    }
    text = TYPICAL.split(";", 1)[0] + "".join(f";{k}={v}" for k, v in values.items())
    if data.draw(st.integers(0, 3)) == 0:
        index = data.draw(st.integers(0, len(text) - 1))
        char = data.draw(st.sampled_from(list(' ;=()":?*-aZ0\\')))
        text = text[:index] + char + text[index + 1 :]
    read = shape.read(text)
    event("read by the shape" if read is not None else "not in the shape")
    if read is None:
        return
    member = structured.canonical_inner_list_member(text)
    assert member is not None
    label, names, raw, inner = member
    assert (label, names) == (shape.label, shape.components)
    assert inner == text[len(label) + 1 :]  # the @signature-params the shape path uses
    assert list(raw) == ["created", "nonce", "keyid", "alg", "tag"]
    assert raw["tag"] == '"edgeclaims"'
    assert _canonical_signature_parameters(raw) == read


def test_only_a_verified_request_teaches_a_shape() -> None:
    config = load_config(config_mapping())
    source = config.sources[0]
    assert isinstance(source, RFC9421Source)
    good = dict(signed())
    forged = {**good, "Signature": "edge=:" + base64.b64encode(bytes(32)).decode() + ":"}
    engine = Engine(config, clock=lambda: NOW)
    assert _decide(engine, forged).code == "bad_signature"
    assert source._shapes == ()
    assert _decide(engine, good).allowed
    assert len(source._shapes) == 1
    # The next request in that shape is read through it, and still checked.
    again = dict(signed(nonce="again"))
    assert source._shapes[0].read(again["Signature-Input"]) is not None
    assert _decide(engine, again).allowed
    assert _decide(engine, {**again, "Signature": forged["Signature"]}).code == "bad_signature"
    assert len(source._shapes) == 1


def _decide(engine: Engine, headers: dict[str, str]) -> Any:
    scope = build_asgi_scope("GET", ORIGIN + "/whoami", list(headers.items()))
    return engine.decide(RequestView.from_asgi(scope))


REFUSAL_ORDER = [
    # The first offending component decides the code, in the order covered.
    ('edge=("@method" "@path" "@query" "x-edge-claims" "@foo" tok)', "unsupported"),
    ('edge=("@method" "@path" "@query" "x-edge-claims" "X-Up" "a";sf)', "malformed"),
    ('edge=("@method" "@path" "@query" "x-edge-claims" tok "@foo")', "malformed"),
    ('edge=("@method" "@path" "@query" "x-edge-claims" "a";sf "X-Up")', "unsupported"),
]


@pytest.mark.parametrize(("inner", "code"), REFUSAL_ORDER)
def test_component_checks_run_in_covered_order(inner: str, code: str) -> None:
    signature_input = inner + ';created=1795731572;keyid="2026-11";nonce="n";tag="edgeclaims"'
    assert SOURCE._select_canonical(signature_input, "edge=:AAEC:") is None
    with pytest.raises(VerificationError) as refused:
        SOURCE._select(signature_input, "edge=:AAEC:")
    assert refused.value.code == code


def test_a_line_break_in_a_covered_header_is_refused_before_a_later_absent_one() -> None:
    covered = ("@method", "@path", "@query", "x-edge-claims", "x-a", "x-b")
    headers = signed(components=covered, headers={"X-A": "a", "X-B": "b"})
    headers = [(n, v) for n, v in headers if n != "X-B"]
    headers.append(("X-A", "a\nb"))  # after the signed value: two field lines
    view = RequestView.from_asgi(build_asgi_scope("GET", ORIGIN + "/whoami", headers))
    with pytest.raises(VerificationError) as refused:
        SOURCE.verify(view, NOW)
    assert refused.value.code == "malformed"
