"""The RFC 9421 source decodes each verified claims header once, and checks it every time."""

from __future__ import annotations

import pytest
from tables import NOW, ORIGIN, VIEWER, config_mapping, signed

from edgeclaims.config import load_config
from edgeclaims.errors import BadSignature, Expired
from edgeclaims.request import RequestView
from edgeclaims.sources import rfc9421
from edgeclaims.sources.rfc9421 import RFC9421Source
from edgeclaims.testing import build_asgi_scope


def _source() -> RFC9421Source:
    source = load_config(config_mapping()).sources[0]
    assert isinstance(source, RFC9421Source)
    return source


def _view(headers: list[tuple[str, str]]) -> RequestView:
    return RequestView.from_asgi(build_asgi_scope("GET", ORIGIN + "/whoami", headers))


def test_each_request_gets_its_own_claims_object() -> None:
    source = _source()
    first = source.verify(_view(signed(nonce="one")), NOW).claims
    second = source.verify(_view(signed(nonce="two")), NOW).claims
    assert first == second == VIEWER
    assert len(source._decoded_claims) == 1  # decoded once
    first["sub"] = "mallory"
    first["groups"].append("okta-admins")  # nested values are copies too
    assert second == VIEWER
    assert source.verify(_view(signed(nonce="three")), NOW).claims == VIEWER


def test_cached_claims_are_still_checked_for_time() -> None:
    source = _source()
    claims = {**VIEWER, "exp": NOW + 60}
    assert source.verify(_view(signed(claims=claims)), NOW).claims["exp"] == NOW + 60
    later = NOW + 600  # a fresh signature, but the same (now expired) claims header
    with pytest.raises(Expired):
        source.verify(_view(signed(claims=claims, created=later, nonce="later")), later)


def test_a_forged_signature_never_fills_the_cache() -> None:
    source = _source()
    headers = dict(signed())
    headers["Signature"] = "edge=:" + "A" * 43 + "=:"
    with pytest.raises(BadSignature):
        source.verify(_view(list(headers.items())), NOW)
    assert source._decoded_claims == {}


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rfc9421, "CLAIMS_CACHE_SIZE", 3)
    source = _source()
    for number in range(10):
        claims = {**VIEWER, "n": number}
        assert source.verify(_view(signed(claims=claims, nonce=f"n{number}")), NOW).claims == claims
        assert len(source._decoded_claims) <= 3
