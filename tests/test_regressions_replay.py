"""Issue #11, item 11 ("replay boundary"): a nonce outlives every instant its signature verifies.

The RFC 9421 source accepts a signature up to and including ``created +
max_age + leeway`` (and ``expires + leeway``); the JWS source a token up to
and including ``exp + leeway`` (and ``iat + max_age + leeway``). A nonce
first seen at t0 was recorded for ``max_age + 2·leeway`` (a jti for
``valid_until - t0``) and every store forgot it at exactly ``t0 + ttl``: for
a first sighting at the earliest instant the signature verifies (``created -
leeway``), and for any jti, that is the last instant it still verifies, and
a replay then was accepted.

Every request here goes through the engine, with an injected clock, against
each store: memory, a SQLite file and a real Redis. Redis counts time on its
own clock, which the tests cannot move (its rounding is checked in
tests/test_replay_redis.py); through it these tests check the verdicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from replay_support import FakeClock
from tables import NOW, ORIGIN, VIEWER, config_mapping, signed

from edgeclaims.config import load_config
from edgeclaims.engine import Engine
from edgeclaims.jose import sign_jws
from edgeclaims.request import RequestView
from edgeclaims.sources.rfc9421 import REPLAY_MARGIN, RFC9421Source
from edgeclaims.testing import build_asgi_scope

# The rfc9421 source's defaults in tables.config_mapping.
MAX_AGE = 30
LEEWAY = 5
CREATED = NOW
EARLIEST = CREATED - LEEWAY  # the first instant the signature verifies
LAST = CREATED + MAX_AGE + LEEWAY  # the last instant it verifies
OLD_TTL = MAX_AGE + 2 * LEEWAY  # what a nonce used to be recorded for: EARLIEST + OLD_TTL == LAST
# About four times the float spacing at today's epoch seconds: the smallest
# step a clock can take.
TINY = 2.0**-20

JWS_SECRET = bytes(range(100, 132))
ISSUER = "https://edge.example.com"
AUDIENCE = "orders-app"
IAT = NOW - 10
EXP = NOW + 60


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.service)])
def replay(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """The ``[edgeclaims.replay]`` table of each store."""
    kind: str = request.param
    if kind == "redis":
        return {"store": "redis", "url": request.getfixturevalue("redis_url")}
    if kind == "sqlite":
        return {"store": "sqlite", "path": str(tmp_path / "replay.db")}
    return {"store": "memory"}


@contextmanager
def engine_at(clock: FakeClock, replay: dict[str, object], **overrides: Any) -> Iterator[Engine]:
    engine = Engine(load_config(config_mapping(replay=replay, **overrides)), clock=clock)
    assert engine.replay is not None
    try:
        yield engine
    finally:
        engine.replay.close()


def request_view(headers: list[tuple[str, str]]) -> RequestView:
    return RequestView.from_asgi(build_asgi_scope("GET", ORIGIN + "/whoami", headers))


def code(engine: Engine, headers: list[tuple[str, str]]) -> str:
    outcome = engine.decide(request_view(headers))
    return outcome.code or "ok"


def instants(t0: float, last: float, *ttls: float) -> list[float]:
    """Every whole second from t0 until past ``last``, and the instants around each boundary.

    The boundaries: ``last``, and ``t0 + ttl`` for each ttl (what a store
    was, or is, asked to keep the nonce for).
    """
    points = {t0 + step for step in range(int(last - t0) + 3)}
    for edge in (last, *(t0 + ttl for ttl in ttls)):
        points.update((edge - 0.001, edge - TINY, edge, edge + TINY, edge + 0.001))
    return sorted(point for point in points if point >= t0)


#: When the first sighting happens: an offset from the first or the last
#: instant the signature verifies.
FIRST_SIGHTINGS = [
    pytest.param("earliest", 0.0, id="first-seen-earliest"),
    pytest.param("earliest", 0.3, id="first-seen-earliest+0.3s"),
    pytest.param("earliest", 5.0, id="first-seen-earliest+5s"),
    pytest.param("last", -1.0, id="first-seen-last-1s"),
    pytest.param("last", -TINY, id="first-seen-last-epsilon"),
    pytest.param("last", 0.0, id="first-seen-at-last"),
]


def expected(instant: float, last: float) -> str:
    """A replay is refused as a replay while it verifies, then as expired: never accepted."""
    return "replayed" if instant <= last else "expired"


# -- the finding -------------------------------------------------------------------


def test_replayed_nonce_at_the_last_valid_instant_is_refused(replay: dict[str, object]) -> None:
    clock = FakeClock(EARLIEST)
    headers = signed(nonce="replay-boundary", created=CREATED)
    with engine_at(clock, replay) as engine:
        assert code(engine, headers) == "ok"  # first seen the moment it starts to verify
        clock.now = EARLIEST + OLD_TTL  # == LAST: where the nonce used to be forgotten
        assert code(engine, headers) == "replayed"
        clock.now = LAST + TINY
        assert code(engine, headers) == "expired"


# -- RFC 9421 nonce, through the engine ----------------------------------------------


@pytest.mark.parametrize(("anchor", "offset"), FIRST_SIGHTINGS)
@pytest.mark.parametrize(
    ("expires", "last"),
    [
        pytest.param(None, LAST, id="max-age"),
        pytest.param(CREATED + 10, CREATED + 10 + LEEWAY, id="expires"),
    ],
)
def test_rfc9421_nonce_is_refused_at_every_instant_it_verifies(
    replay: dict[str, object], anchor: str, offset: float, expires: int | None, last: int
) -> None:
    t0 = (EARLIEST if anchor == "earliest" else last) + offset
    clock = FakeClock(t0)
    headers = signed(nonce=f"sweep-{t0}-{expires}", created=CREATED, expires=expires)
    with engine_at(clock, replay) as engine:
        source = engine.sources[0]
        ticket = source.verify(request_view(headers), t0).replay
        assert ticket is not None
        assert code(engine, headers) == "ok"
        for instant in instants(t0, last, OLD_TTL, ticket.ttl):
            clock.now = instant
            assert code(engine, headers) == expected(instant, last), instant - t0


def test_rfc9421_nonce_is_refused_through_the_async_path(replay: dict[str, object]) -> None:
    clock = FakeClock(EARLIEST)
    headers = signed(nonce="async-boundary", created=CREATED)

    async def scenario(engine: Engine) -> list[str]:
        codes = []
        for instant in instants(EARLIEST, LAST, OLD_TTL):
            clock.now = instant
            outcome = await engine.adecide(request_view(headers))
            codes.append(outcome.code or "ok")
        store: Any = engine.replay
        if hasattr(store, "aclose"):  # this loop's Redis connections
            await store.aclose()
        return codes

    with engine_at(clock, replay) as engine:
        codes = asyncio.run(scenario(engine))
    points = instants(EARLIEST, LAST, OLD_TTL)
    assert codes == ["ok"] + [expected(instant, LAST) for instant in points[1:]]


@pytest.mark.parametrize(
    "expires",
    [None, CREATED + 10, CREATED - LEEWAY],
    ids=["max-age", "expires-early", "expires-at-created-minus-leeway"],
)
@pytest.mark.parametrize("share", [0.0, 0.01, 0.5, 0.999, 1.0])
def test_rfc9421_ticket_outlives_the_last_valid_instant(expires: int | None, share: float) -> None:
    source = RFC9421Source(name="rfc9421", keys={}, max_age=MAX_AGE, leeway=LEEWAY)
    last = LAST if expires is None else min(LAST, expires + LEEWAY)
    now = EARLIEST + share * (last - EARLIEST)  # anywhere the signature verifies
    ttl = source.replay_ttl(CREATED, expires, now)
    assert now + ttl > last  # strictly: a margin beyond the last instant
    # At most spec §1 rule 8, plus leeway for a farm clock behind this one, plus the margin.
    assert ttl <= MAX_AGE + 3 * LEEWAY + REPLAY_MARGIN


# -- JWS jti, through the engine -----------------------------------------------------


def jws_sources(**options: object) -> list[dict[str, object]]:
    return [
        {
            "type": "jws",
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "replay_jti": True,
            "keys": [{"id": "hs-1", "alg": "HS256", "secret": "hex:" + JWS_SECRET.hex()}],
            **options,
        }
    ]


def jws_headers(jti: str) -> list[tuple[str, str]]:
    claims = {**VIEWER, "iss": ISSUER, "aud": AUDIENCE, "iat": IAT, "exp": EXP, "jti": jti}
    return [("X-Edge-Jwt", sign_jws(claims, "hs-1", "HS256", JWS_SECRET))]


@pytest.mark.parametrize(
    ("options", "last"),
    [
        pytest.param({}, EXP + LEEWAY, id="exp"),
        pytest.param({"max_age": 30}, IAT + 30 + LEEWAY, id="max-age"),
    ],
)
@pytest.mark.parametrize(("anchor", "offset"), FIRST_SIGHTINGS)
def test_jws_jti_is_refused_at_every_instant_it_verifies(
    replay: dict[str, object], options: dict[str, object], last: int, anchor: str, offset: float
) -> None:
    t0 = (IAT - LEEWAY if anchor == "earliest" else last) + offset
    clock = FakeClock(t0)
    headers = jws_headers(f"jti-{t0}-{sorted(options)}")
    with engine_at(clock, replay, sources=jws_sources(**options)) as engine:
        ticket = engine.sources[0].verify(request_view(headers), t0).replay
        assert ticket is not None
        assert code(engine, headers) == "ok"
        for instant in instants(t0, last, last - t0, ticket.ttl):
            clock.now = instant
            assert code(engine, headers) == expected(instant, last), instant - t0
