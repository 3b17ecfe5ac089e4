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
from tables import NOW, cases, config_mapping

from edgeclaims.config import load_config
from edgeclaims.engine import Engine
from edgeclaims.errors import VerificationError
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421 import RFC9421Source
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
        assert fast == _general(*pair)


def test_usual_headers_take_the_fast_path() -> None:
    signature_input = (
        'edge=("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;'
        'nonce="n1";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"'
    )
    fast = SOURCE._select_canonical(signature_input, "edge=:AAEC:")
    assert fast is not None
    assert fast[3] == (1795731572, "2026-11", "n1", None, "hmac-sha256")
    assert fast == SOURCE._select(signature_input, "edge=:AAEC:")


def _verdicts() -> list[tuple[str, str | None]]:
    engine = Engine(CONFIG, clock=lambda: NOW)
    found = []
    for case in cases():
        view = RequestView.from_asgi(build_asgi_scope(case.method, case.url, case.headers))
        found.append((case.id, engine.decide(view).code))
    return found


def test_the_table_gives_the_same_verdicts_without_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_fast_path = _verdicts()
    monkeypatch.setattr(RFC9421Source, "_select_canonical", lambda self, i, s: None)
    assert _verdicts() == with_fast_path
    assert {code for _, code in with_fast_path} > {None}  # accepted and refused cases both ran
