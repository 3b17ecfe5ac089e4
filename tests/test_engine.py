"""The engine on its own: modes, peers, identity rules, replay answers, failures, the log.

The shared request table runs through the engine too (tests/test_entry_points.py);
the adapters' own behaviour is in tests/test_middleware.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from tables import ADMIN, HMAC_SECRET, NOW, VIEWER, config_mapping, signed

from edgeclaims.config import load_config
from edgeclaims.engine import Engine
from edgeclaims.errors import ConfigurationError
from edgeclaims.request import RequestView
from edgeclaims.signer import encode_claims
from edgeclaims.testing import build_asgi_scope

URL = "https://app.example.com/whoami"


def _decide(
    config: Any, headers: list[tuple[str, str]], *, url: str = URL, peer: str = "127.0.0.1"
) -> Any:
    scope = build_asgi_scope("GET", url, headers)
    scope["client"] = (peer, 5000)
    return Engine(load_config(config), clock=lambda: NOW).decide(RequestView.from_asgi(scope))


def test_monitor_mode_lets_invalid_requests_through_without_identity() -> None:
    tampered = [(n, encode_claims(ADMIN) if n == "X-Edge-Claims" else v) for n, v in signed()]
    outcome = _decide(config_mapping(mode="monitor"), tampered)
    assert outcome.allowed
    assert outcome.identity is None
    assert outcome.code == "bad_signature"
    forbidden = _decide(
        config_mapping(mode="monitor"),
        signed(path="/admin/x"),
        url="https://app.example.com/admin/x",
    )
    assert forbidden.allowed
    assert forbidden.identity.subject == "alice"
    assert forbidden.code == "forbidden"


def test_trusted_peers() -> None:
    config = config_mapping(trusted_peers=["203.0.113.0/24", "2001:db8::/32"])
    assert _decide(config, signed(), peer="203.0.113.9").identity.subject == "alice"
    assert _decide(config, signed(), peer="2001:db8::1").allowed
    refused = _decide(config, signed(), peer="198.51.100.1")
    assert refused.refusal.code == "untrusted_peer"
    # Public routes stay reachable (health checks come from elsewhere).
    assert _decide(config, [], url="https://app.example.com/healthz", peer="198.51.100.1").allowed


def test_require_identity_false_makes_unmatched_routes_public() -> None:
    config = config_mapping(require_identity=False)
    assert _decide(config, []).allowed
    # An invalid header is still refused, never downgraded to anonymous.
    assert _decide(config, [("X-Edge-Claims", "garbage")]).refusal.code == "missing"
    bad = [(n, encode_claims(ADMIN) if n == "X-Edge-Claims" else v) for n, v in signed()]
    assert _decide(config, bad).refusal.code == "bad_signature"
    # Routes that demand roles still demand them.
    assert _decide(config, [], url="https://app.example.com/admin/x").refusal.code == "missing"


def test_decision_log_has_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edgeclaims")
    claims = {**VIEWER, "email": "alice.secret@example.com"}
    headers = signed(claims=claims, nonce="log-1")
    config = config_mapping(request_id_header="X-Request-Id")
    _decide(config, [*headers, ("X-Request-Id", "req-42")])
    tampered = [
        (n, encode_claims(ADMIN) if n == "X-Edge-Claims" else v) for n, v in signed(nonce="log-2")
    ]
    _decide(config, tampered)
    records = [r for r in caplog.records if r.name == "edgeclaims"]
    assert [r.edgeclaims["outcome"] for r in records] == ["accepted", "refused"]  # type: ignore[attr-defined]
    assert records[0].edgeclaims["subject"] == "alice"  # type: ignore[attr-defined]
    assert records[0].edgeclaims["request_id"] == "req-42"  # type: ignore[attr-defined]
    assert records[1].edgeclaims["subject"] is None  # type: ignore[attr-defined]
    text = caplog.text + repr([r.__dict__ for r in records])
    for secret in (
        "alice.secret",
        HMAC_SECRET.hex(),
        dict(headers)["Signature"][6:30],
        dict(headers)["X-Edge-Claims"][:20],
        "okta-admins",
    ):
        assert secret not in text


def test_unexpected_exception_is_refused_and_logged_without_its_message(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeclaims.sources.rfc9421 import RFC9421Source

    def explode(self: Any, view: Any, now: float, trace: Any = None) -> Any:
        raise KeyError("secret-claim-value")

    monkeypatch.setattr(RFC9421Source, "verify", explode)
    outcome = _decide(config_mapping(), signed())
    assert outcome.refusal.code == "malformed"
    assert "KeyError" in caplog.text
    assert "secret-claim-value" not in caplog.text


class _CountingStore:
    """A store answering as a row count would: 1 the first time, 0 after (not bools)."""

    name = "counting"

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, str]] = set()

    def check_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> int:
        entry = (scope, key_id, nonce)
        first = entry not in self.seen
        self.seen.add(entry)
        return int(first)

    async def acheck_and_record(self, scope: str, key_id: str, nonce: str, ttl: float) -> int:
        return self.check_and_record(scope, key_id, nonce, ttl)


def test_any_falsy_replay_answer_is_a_replay(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(load_config(config_mapping()), clock=lambda: NOW, replay_store=_CountingStore())
    view = RequestView.from_asgi(build_asgi_scope("GET", URL, signed()))
    assert engine.decide(view).allowed
    again = RequestView.from_asgi(build_asgi_scope("GET", URL, signed()))
    assert engine.decide(again).code == "replayed"
    assert asyncio.run(engine.adecide(again)).code == "replayed"
    assert "ALLOWED" not in caplog.text  # a truthy answer is a first sighting, not an outage


@pytest.mark.parametrize(
    "peer",
    ["203.0.113.9", "203.0.113.9:52144", "[2001:db8::1]:443", "2001:db8::1", "fe80::1%eth0"],
)
def test_trusted_peer_with_a_port_or_zone(peer: str) -> None:
    """uvicorn before 0.45 reports a forwarded peer as ``address:port``."""
    config = config_mapping(trusted_peers=["203.0.113.0/24", "2001:db8::/32", "fe80::/10"])
    assert _decide(config, signed(), peer=peer).allowed


@pytest.mark.parametrize("peer", ["198.51.100.1:443", "not-an-address", "", "203.0.113.9:x:y"])
def test_untrusted_or_unreadable_peer(peer: str) -> None:
    config = config_mapping(trusted_peers=["203.0.113.0/24"])
    assert _decide(config, signed(), peer=peer).refusal.code == "untrusted_peer"


def test_subject_claim_and_required_claims() -> None:
    """Entra ID users are named by ``oid``; a required claim missing is no identity."""
    source = {**config_mapping()["sources"][0], "subject_claim": "oid", "required_claims": ["tid"]}  # type: ignore[index]
    config = config_mapping(sources=[source])
    person = {"sub": "pairwise-x", "oid": "0b1c", "tid": "contoso"}
    assert _decide(config, signed(claims=person)).identity.subject == "0b1c"
    assert _decide(config, signed(claims={"sub": "s", "tid": "t"})).code == "incomplete_claims"
    missing_tid = _decide(config, signed(claims={"oid": "0b1c"}))
    assert (missing_tid.code, missing_tid.refusal.detail) == (
        "incomplete_claims",
        "the claims lack the required claim 'tid'",
    )
    with pytest.raises(ConfigurationError, match="subject_claim: must name a claim"):
        load_config(config_mapping(sources=[{**source, "subject_claim": ""}]))
