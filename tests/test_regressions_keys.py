"""Regressions for key handling, one test per finding, named after it (issue #11).

The fuller tables live beside the code they exercise: tests/test_jwks.py
(every misbehaving answer, cold and warm, client and middleware) and
tests/test_config.py (every repr and every secret-reading error).
"""

from __future__ import annotations

import pytest
from tables import config_mapping
from test_jwks import (
    JWKS_BODY,
    FakeClock,
    RawServer,
    _asgi_caller,
    _fresh_token,
    _wsgi_caller,
    client,
    good_answer,
    http_answer,
)
from test_jws import NOW, view

from edgeclaims.config import load_config
from edgeclaims.errors import ConfigurationError, KeySourceUnavailable
from edgeclaims.sources.jws import JWSSource

#: http.client raises these as HTTPException, which is not an OSError.
NOT_OSERROR_FAULTS = {
    "BadStatusLine": b"SSH-2.0-OpenSSH_9.6\r\n",
    "IncompleteRead": http_answer(b"zz\r\n" + JWKS_BODY, "Transfer-Encoding: chunked"),
    "too many headers": http_answer(JWKS_BODY, *(f"X-{i}: {i}" for i in range(101))),
}


def test_jwks_fault_that_is_not_oserror_serves_stale_keys_or_503() -> None:
    """#11 finding 7: an HTTPException escaped the JWKS client (500 on ASGI, 401 on WSGI)."""
    raw = RawServer(good_answer())
    try:
        for name, answer in NOT_OSERROR_FAULTS.items():
            # Warm: cached keys inside max_stale go on verifying.
            raw.answer = good_answer()
            clock = FakeClock()
            jwks = client(raw, clock, max_stale=600)
            source = JWSSource(name="j", keys=jwks, algorithms=frozenset({"ES256"}))
            assert source.verify(view(_fresh_token()), NOW).key_id == "ec-1"
            raw.answer = answer
            clock.advance(301)
            assert source.verify(view(_fresh_token()), NOW).key_id == "ec-1", name
            # Cold: 503 key_source_unavailable, from the client and both middlewares.
            with pytest.raises(KeySourceUnavailable):
                client(raw, FakeClock()).key_for("ec-1")
            for caller in (_wsgi_caller, _asgi_caller):
                status, body = caller(raw.url)()
                assert status == 503, (name, caller.__name__)
                assert b'"code":"key_source_unavailable"' in body
    finally:
        raw.stop()


def test_config_repr_hides_redis_password() -> None:
    """#11 finding 9: repr(config) showed the Redis URL with its password."""
    url = "redis://:hunter2@cache.example:6379/0?password=sup3r"
    config = load_config(config_mapping(replay={"store": "redis", "url": url}))
    for shown in (repr(config), repr(config.replay), str(config)):
        assert "hunter2" not in shown
        assert "sup3r" not in shown
        assert "redis://***@cache.example:6379/0" in shown
    assert config.replay.url == url  # still there for the store to use


@pytest.mark.parametrize("secret", ["hunter2:abc", "sup3rs3cret", "s3cr3t:hunter2:x"])
def test_secret_with_unknown_prefix_is_not_echoed(secret: str) -> None:
    """#11 finding 9: the text before the first ':' of a secret was quoted in the error."""
    mapping = config_mapping()
    mapping["sources"] = [
        {"type": "rfc9421", "keys": [{"id": "k", "alg": "hmac-sha256", "secret": secret}]}
    ]
    with pytest.raises(ConfigurationError) as caught:
        load_config(mapping)
    message = str(caught.value)
    assert message.startswith("sources[0].keys[0].secret: ")
    assert "base64:, base64url:, hex: or utf8:" in message
    for fragment in ("hunter2", "sup3r", "s3cr3t", "abc"):
        assert fragment not in message
