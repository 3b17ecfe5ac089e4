"""The ``rfc9421`` source as a whole: what it reads from a request and when it refuses.

The signature reader has its own tests (test_rfc9421_reader.py); the shared
request table runs through every entry point (tests/test_entry_points.py).
"""

from __future__ import annotations

import pytest
from tables import NOW, ORIGIN, VIEWER, config_mapping, signed

from edgeclaims.config import load_config
from edgeclaims.errors import Expired, VerificationError
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421 import RFC9421Source
from edgeclaims.testing import build_asgi_scope


def _source() -> RFC9421Source:
    source = load_config(config_mapping()).sources[0]
    assert isinstance(source, RFC9421Source)
    return source


def _view(headers: list[tuple[str, str]]) -> RequestView:
    return RequestView.from_asgi(build_asgi_scope("GET", ORIGIN + "/whoami", headers))


def test_one_request_changing_its_claims_changes_no_other() -> None:
    """Claims are decoded per request: nothing is shared between two of them."""
    source = _source()
    first = source.verify(_view(signed(nonce="one")), NOW).claims
    first["sub"] = "mallory"
    first["groups"].append("okta-admins")
    assert source.verify(_view(signed(nonce="two")), NOW).claims == VIEWER


def test_the_same_claims_header_is_checked_for_time_on_every_request() -> None:
    source = _source()
    claims = {**VIEWER, "exp": NOW + 60}
    assert source.verify(_view(signed(claims=claims)), NOW).claims["exp"] == NOW + 60
    later = NOW + 600  # a fresh signature, but the same (now expired) claims header
    with pytest.raises(Expired):
        source.verify(_view(signed(claims=claims, created=later, nonce="later")), later)


def test_a_line_break_in_a_covered_header_is_refused_before_a_later_absent_one() -> None:
    covered = ("@method", "@path", "@query", "x-edge-claims", "x-a", "x-b")
    headers = signed(components=covered, headers={"X-A": "a", "X-B": "b"})
    headers = [(n, v) for n, v in headers if n != "X-B"]
    headers.append(("X-A", "a\nb"))  # after the signed value: two field lines
    with pytest.raises(VerificationError) as refused:
        _source().verify(_view(headers), NOW)
    assert refused.value.code == "malformed"
