"""The Redis store: a farm of servers, outages and recovery, credentials never shown."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import socket
import time
from collections.abc import Iterator
from fractions import Fraction

import pytest
import redis
from loop_support import loop_ticks_while
from replay_support import (
    RedisServer,
    WorkerPool,
    free_port,
    redis_server_executable,
)
from tables import NOW, ORIGIN, config_mapping, signed

from edgeclaims.config import load_config
from edgeclaims.engine import Engine
from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay.redis_store import RedisReplayStore, redact_url
from edgeclaims.request import RequestView
from edgeclaims.testing import build_wsgi_environ

pytestmark = pytest.mark.service

TIMEOUT = 0.5
SLACK = 0.75  # scheduling noise on a busy CI machine


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the two "servers" below (never killed)."""
    server = RedisServer(redis_server_executable(), tmp_path_factory.mktemp("shared-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def two_servers(shared_redis: RedisServer) -> Iterator[WorkerPool]:
    """Two spawned processes, each with its own Redis client: two servers of a farm."""
    with WorkerPool({"store": "redis", "url": shared_redis.url}, 2) as pool:
        yield pool


# -- a farm of two ------------------------------------------------------------


def test_replay_to_the_other_server_is_refused(two_servers: WorkerPool) -> None:
    answers = two_servers.ask_each_in_turn("store", ("rfc9421", "2026-11", "farm-seq", 60.0))
    assert answers == [True, False]


def test_simultaneous_replay_to_two_servers_is_accepted_once(two_servers: WorkerPool) -> None:
    for attempt in range(20):
        nonce = f"farm-sim-{attempt}"
        answers = two_servers.ask_all_at_once("store", ("rfc9421", "2026-11", nonce, 60.0))
        assert sorted(answers) == [False, True], answers


def test_this_process_is_a_third_server(two_servers: WorkerPool, shared_redis: RedisServer) -> None:
    two_servers.ask(0, "store", ("rfc9421", "k", "from-server-0", 60.0))
    with RedisReplayStore(shared_redis.url) as store:
        assert store.check_and_record("rfc9421", "k", "from-server-0", 60.0) is False


def test_signed_request_replayed_to_two_servers_is_accepted_once(two_servers: WorkerPool) -> None:
    request = ("GET", "/whoami", signed(nonce="farm-wsgi-seq"))
    assert two_servers.ask_each_in_turn("wsgi", request) == [200, 401]
    for attempt in range(5):
        request = ("GET", "/whoami", signed(nonce=f"farm-wsgi-sim-{attempt}"))
        assert sorted(two_servers.ask_all_at_once("wsgi", request)) == [200, 401]


# -- keys and ttl -----------------------------------------------------------------


def test_key_is_the_prefix_and_a_digest_whatever_the_nonce(redis_url: str) -> None:
    store = RedisReplayStore(redis_url, key_prefix="app1:replay:")
    admin = redis.Redis.from_url(redis_url)
    nonce = "x\r\nSET evil 1\r\n*"
    assert store.check_and_record("rfc9421", "k", nonce, 60) is True
    key = store.key("rfc9421", "k", nonce)
    assert re.fullmatch(rb"app1:replay:[0-9a-f]{64}", key)
    assert admin.keys("*") == [key]  # nothing injected, nothing else written
    # PX is the ttl rounded up plus one millisecond (redis_store._milliseconds):
    # read back within the same millisecond, PTTL is 60001.
    assert 0 < admin.pttl(key) <= 60_001
    store.close()
    admin.close()


@pytest.mark.parametrize(
    "ttl",
    [
        # Not below a second: a key set to live 2 ms may be gone before
        # PEXPIRETIME reads it on a busy machine (and no source asks for it).
        pytest.param(1.0, id="1s"),
        pytest.param(1.0015, id="1s+1.5ms"),
        pytest.param(34.7, id="34.7s"),
        pytest.param(306.0, id="306s"),
        pytest.param(30.000001, id="30s+1us"),
    ],
)
def test_redis_keeps_the_nonce_through_the_instant_plus_ttl(redis_url: str, ttl: float) -> None:
    # PX counts whole milliseconds from Redis's own clock, which the tests
    # cannot move: read that clock before recording, then the expiry Redis
    # set. Redis drops a key once its millisecond clock is past the expiry,
    # so the nonce outlives `before + ttl` only if the expiry is at or after
    # it, rounded up: the store may only lengthen retention (issue #11, 11).
    admin = redis.Redis.from_url(redis_url)
    store = RedisReplayStore(redis_url)
    for attempt in range(40):  # the sub-millisecond phase of the clock varies
        seconds, microseconds = admin.time()
        before_us = seconds * 1_000_000 + microseconds
        nonce = f"boundary-{attempt}"
        assert store.check_and_record("rfc9421", "k", nonce, ttl) is True
        expiry_ms = admin.pexpiretime(store.key("rfc9421", "k", nonce).decode("ascii"))
        needed_ms = math.ceil((Fraction(before_us) + Fraction(ttl) * 1_000_000) / 1000)
        assert expiry_ms >= needed_ms, (attempt, expiry_ms, needed_ms)
    store.close()
    admin.close()


def test_ttl_is_enforced_by_redis(redis_url: str) -> None:
    with RedisReplayStore(redis_url) as store:
        assert store.check_and_record("rfc9421", "k", "short-lived", 0.05) is True
        assert store.check_and_record("rfc9421", "k", "short-lived", 0.05) is False
        time.sleep(0.15)  # Redis's own clock expires the key: nothing to inject
        assert store.check_and_record("rfc9421", "k", "short-lived", 0.05) is True


# -- outages ------------------------------------------------------------------------


def test_killed_redis_refuses_quickly_then_recovers_without_restart(
    redis_server: RedisServer,
) -> None:
    store = RedisReplayStore(redis_server.url, timeout=TIMEOUT)
    assert store.check_and_record("rfc9421", "k", "before", 60) is True
    redis_server.kill()
    for attempt in range(3):
        started = time.monotonic()
        with pytest.raises(ReplayStoreUnavailable) as caught:
            store.check_and_record("rfc9421", "k", f"during-{attempt}", 60)
        assert time.monotonic() - started < TIMEOUT + SLACK
        assert caught.value.status == 503
    redis_server.start()  # same port; the store object is not rebuilt
    assert store.check_and_record("rfc9421", "k", "after", 60) is True
    assert store.check_and_record("rfc9421", "k", "after", 60) is False
    store.close()


def test_killed_redis_async_path_refuses_then_recovers(redis_server: RedisServer) -> None:
    store = RedisReplayStore(redis_server.url, timeout=TIMEOUT)

    async def scenario() -> None:
        assert await store.acheck_and_record("rfc9421", "k", "before", 60) is True
        redis_server.kill()
        for attempt in range(3):
            started = time.monotonic()
            with pytest.raises(ReplayStoreUnavailable):
                await store.acheck_and_record("rfc9421", "k", f"during-{attempt}", 60)
            assert time.monotonic() - started < TIMEOUT + SLACK
        redis_server.start()
        assert await store.acheck_and_record("rfc9421", "k", "after", 60) is True
        assert await store.acheck_and_record("rfc9421", "k", "after", 60) is False
        await store.aclose()

    asyncio.run(scenario())


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung Redis."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", free_port()))
    listener.listen(64)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_hung_redis_costs_at_most_the_timeout(silent_port: int) -> None:
    store = RedisReplayStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.2)
    started = time.monotonic()
    with pytest.raises(ReplayStoreUnavailable):
        store.check_and_record("rfc9421", "k", "hung", 60)
    assert 0.15 <= time.monotonic() - started < 0.2 + SLACK
    store.close()


def test_a_hung_redis_does_not_block_the_event_loop(silent_port: int) -> None:
    store = RedisReplayStore(f"redis://127.0.0.1:{silent_port}/0", timeout=0.3)

    async def scenario() -> tuple[int, BaseException | None]:
        found = await loop_ticks_while(store.acheck_and_record("rfc9421", "k", "hung", 60))
        await store.aclose()  # on the loop its client belongs to
        return found

    ticks, raised = asyncio.run(scenario())
    assert isinstance(raised, ReplayStoreUnavailable)
    assert ticks >= 10  # the loop kept running during the 0.3 s timeout


def _view(nonce: str) -> RequestView:
    headers = dict(signed(nonce=nonce))
    return RequestView.from_wsgi(build_wsgi_environ("GET", ORIGIN + "/whoami", headers))


@pytest.mark.parametrize("on_error", ["deny", "allow"])
def test_engine_policy_while_redis_is_down(
    redis_server: RedisServer, on_error: str, caplog: pytest.LogCaptureFixture
) -> None:
    replay = {"store": "redis", "url": redis_server.url, "on_error": on_error}
    engine = Engine(load_config(config_mapping(replay=replay)), clock=lambda: NOW)
    assert engine.decide(_view("up")).allowed
    assert engine.decide(_view("up")).code == "replayed"

    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="edgeclaims"):
        outcomes = [engine.decide(_view("down")), asyncio.run(engine.adecide(_view("down-async")))]
    for outcome in outcomes:
        if on_error == "deny":
            assert outcome.refusal is not None
            assert outcome.refusal.code == "replay_store_unavailable"
            assert outcome.refusal.status == 503
        else:
            assert outcome.allowed
    if on_error == "allow":
        assert any("ALLOWED" in record.getMessage() for record in caplog.records)
    assert any("unavailable" in record.getMessage() for record in caplog.records)

    redis_server.start()
    assert engine.decide(_view("back")).allowed
    assert engine.decide(_view("back")).code == "replayed"


# -- credentials --------------------------------------------------------------------


def test_acl_user_from_the_url_and_secrets_never_shown(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    # Least privilege: the store only ever needs SET on its own prefix.
    admin.acl_setuser(
        "edge",
        enabled=True,
        passwords=["+edge-s3cret"],
        keys=["edgeclaims:replay:*"],
        commands=["+set"],
    )
    admin.config_set("requirepass", "admin-s3cret")
    admin.close()
    port = redis_server.port

    good = RedisReplayStore(f"redis://edge:edge-s3cret@127.0.0.1:{port}/0")
    assert good.check_and_record("rfc9421", "k", "acl", 60) is True
    assert good.check_and_record("rfc9421", "k", "acl", 60) is False
    assert repr(good) == f"RedisReplayStore('redis://***@127.0.0.1:{port}/0', timeout=0.5)"

    bad = RedisReplayStore(f"redis://edge:wr0ng-s3cret@127.0.0.1:{port}/0")
    with (
        caplog.at_level(logging.DEBUG, logger="edgeclaims"),
        pytest.raises(ReplayStoreUnavailable) as caught,
    ):
        bad.check_and_record("rfc9421", "k", "acl", 60)
    shown = [str(caught.value), repr(caught.value), repr(bad), caplog.text]
    assert caplog.text  # the outage was logged...
    for text in shown:  # ...without the password
        assert "wr0ng-s3cret" not in text
        assert "edge-s3cret" not in text
    good.close()
    bad.close()


def test_closed_store_is_unavailable(redis_url: str) -> None:
    store = RedisReplayStore(redis_url)
    assert store.check_and_record("rfc9421", "k", "n", 60) is True
    store.close()
    with pytest.raises(ReplayStoreUnavailable):
        store.check_and_record("rfc9421", "k", "n2", 60)
    with pytest.raises(ReplayStoreUnavailable):
        asyncio.run(store.acheck_and_record("rfc9421", "k", "n3", 60))


def test_close_inside_a_running_loop_closes_that_loops_connections(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    store = RedisReplayStore(redis_url)

    async def scenario() -> tuple[int, int]:
        assert await store.acheck_and_record("rfc9421", "k", "n", 60) is True
        before = len(admin.client_list())
        store.close()  # e.g. from a synchronous ASGI shutdown hook
        await asyncio.sleep(0.1)
        return before, len(admin.client_list())

    assert asyncio.run(scenario()) == (2, 1)  # the store's connection, then only ours
    admin.close()


def test_tls_comes_from_the_rediss_scheme() -> None:
    store = RedisReplayStore("rediss://:pw-not-shown@cache.example.invalid:6380/2")
    pool = store._client.connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"
    assert (
        repr(store) == "RedisReplayStore('rediss://***@cache.example.invalid:6380/2', timeout=0.5)"
    )
    store.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:p%40ss@host/1", "redis://***@host/1"),
        ("rediss://user:pass@host:6380/0?ssl_ca_certs=C:/ca.pem", "rediss://***@host:6380/0"),
        ("redis://host:6379/0?password=secret", "redis://host:6379/0"),
        ("unix://user:pass@/var/run/redis.sock?db=0", "unix://***@/var/run/redis.sock"),
        ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
        ("redis://:secret@host:notaport/0", "<unparsable redis URL>"),
    ],
    ids=["plain", "password", "tls-acl", "query-password", "unix", "ipv6", "bad-port"],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
