"""RFC 9421 Appendix B vectors through the rfc9421 source's own code path.

The profile normally requires a tag, a nonce and the claims header; the
Appendix B messages carry none of them, so these tests build the source with
the "accept these components" options (select by label, nothing required)
and otherwise run the very same verification: strict parsing, component
derivation from a request view (ASGI and WSGI), signature base, algorithm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeclaims.algorithms import ALGORITHMS
from edgeclaims.config_table import Table
from edgeclaims.errors import BadSignature, UnsupportedComponent
from edgeclaims.keys import load_key
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421 import RFC9421Source
from edgeclaims.testing import build_asgi_scope, build_wsgi_environ

DATA = json.loads((Path(__file__).parent / "vectors" / "rfc9421_appendix_b.json").read_text())
CREATED = 1618884473
KINDS = {name: algorithm.key_kind for name, algorithm in ALGORITHMS.items()}
CASES = DATA["cases"] + DATA["extra_cases"]


def _source(case: dict[str, Any]) -> RFC9421Source:
    key_data = DATA["keys"][case["key_id"]]
    entry: dict[str, object] = {"id": case["key_id"], "alg": case["alg"]}
    if "secret_base64" in key_data:
        entry["secret"] = "base64:" + key_data["secret_base64"]
    else:
        entry["public_key"] = key_data["public_pem"]
    key = load_key(Table(entry, "keys[0]"), kinds=KINDS, base_dir=Path.cwd())
    return RFC9421Source(
        name="rfc9421-appendix-b",
        keys={key.id: key},
        tag=None,
        label=case["label"],
        required_components=(),
        claims_required=False,
        subject_claim=None,  # the messages carry no claims to name anyone
        require_nonce=False,
        max_age=60,
    )


def _views(case: dict[str, Any]) -> dict[str, RequestView]:
    message = DATA["messages"][case["message"]]
    headers = [
        *[(name, value) for name, value in message["headers"]],
        ("Signature-Input", case["signature_input"]),
        ("Signature", case["signature"]),
    ]
    # B.2.4 signs a response; run it as a request to show @status is refused.
    url = message.get("target_uri", "https://example.com/")
    method = message.get("method", "GET")
    return {
        "asgi": RequestView.from_asgi(build_asgi_scope(method, url, headers)),
        "wsgi": RequestView.from_wsgi(build_wsgi_environ(method, url, dict(headers))),
    }


FITTING = [c for c in CASES if c["fits_profile"]]
OTHERS = [c for c in CASES if not c["fits_profile"]]


@pytest.mark.parametrize("entry", ["asgi", "wsgi"])
@pytest.mark.parametrize("case", FITTING, ids=[c["section"] for c in FITTING])
def test_appendix_b_vector_verifies(case: dict[str, Any], entry: str) -> None:
    source = _source(case)
    view = _views(case)[entry]
    steps: dict[str, str] = {}
    assertion = source.verify(view, CREATED, lambda step, detail: steps.setdefault(step, detail))
    assert steps["base"] == case["signature_base"]
    assert assertion.key_id == case["key_id"]


@pytest.mark.parametrize("case", FITTING, ids=[c["section"] for c in FITTING])
def test_appendix_b_vector_refused_when_tampered(case: dict[str, Any]) -> None:
    source = _source(case)
    message = DATA["messages"][case["message"]]
    headers = [(n, v + "x" if n.lower() == "date" else v) for n, v in message["headers"]]
    covered = case["covered_components"]
    url = message["target_uri"]
    if "date" not in covered:
        # Nothing covered but the method, path, query or authority: change the path.
        url = url.replace(message["path"], message["path"] + "x", 1)
    signature_input = case["signature_input"]
    if not covered:
        # Nothing of the request is covered (B.2.1): tamper with the parameters.
        signature_input = signature_input.replace(f"created={CREATED}", f"created={CREATED - 1}")
    headers += [("Signature-Input", signature_input), ("Signature", case["signature"])]
    view = RequestView.from_asgi(build_asgi_scope(message["method"], url, headers))
    with pytest.raises(BadSignature):
        source.verify(view, CREATED)


@pytest.mark.parametrize("case", OTHERS, ids=[c["section"] for c in OTHERS])
def test_appendix_b_vectors_outside_the_profile_are_refused(case: dict[str, Any]) -> None:
    # @query-param;name=… (B.2.2) and @status (B.2.4, a response) are not
    # part of the profile: refused as unsupported, never half-verified.
    source = _source(case)
    with pytest.raises(UnsupportedComponent):
        source.verify(_views(case)["asgi"], CREATED)
