"""The in-process store: bounded, and fail-closed when full (never evicts a live nonce)."""

from __future__ import annotations

import asyncio

import pytest
from replay_support import FakeClock

from edgeclaims.errors import ReplayStoreUnavailable
from edgeclaims.replay import MemoryReplayStore


def test_full_of_unexpired_nonces_refuses_instead_of_evicting() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=3, clock=clock)
    for nonce in ("a", "b", "c"):
        assert store.check_and_record("rfc9421", "k", nonce, 30) is True

    # A fourth fresh nonce would push "a" out of an evicting cache, making
    # "a" replayable: refused instead, with the 503 code.
    with pytest.raises(ReplayStoreUnavailable) as caught:
        store.check_and_record("rfc9421", "k", "d", 30)
    assert caught.value.code == "replay_store_unavailable"
    assert caught.value.status == 503
    with pytest.raises(ReplayStoreUnavailable):
        asyncio.run(store.acheck_and_record("rfc9421", "k", "e", 30))

    # Every remembered nonce is still a replay while the store is full.
    for nonce in ("a", "b", "c"):
        assert store.check_and_record("rfc9421", "k", nonce, 30) is False
    assert len(store) == 3


def test_room_comes_back_as_nonces_expire() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=2, clock=clock)
    assert store.check_and_record("rfc9421", "k", "old", 10) is True
    clock.advance(5)
    assert store.check_and_record("rfc9421", "k", "newer", 10) is True
    with pytest.raises(ReplayStoreUnavailable):
        store.check_and_record("rfc9421", "k", "refused", 10)
    clock.advance(5.001)  # "old" expires (just past its ttl), "newer" does not
    assert store.check_and_record("rfc9421", "k", "fits-now", 10) is True
    assert store.check_and_record("rfc9421", "k", "newer", 10) is False
    assert len(store) == 2


def test_memory_stays_bounded_under_a_stream_of_unique_nonces() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=1_000, clock=clock)
    for index in range(20_000):
        assert store.check_and_record("rfc9421", "k", f"n{index}", 1.0) is True
        clock.advance(0.01)  # 100 requests a second, ttl 1 s: about 100 live
        assert len(store) <= 101


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryReplayStore(max_entries=0)


def test_repr() -> None:
    assert repr(MemoryReplayStore(max_entries=5)) == "MemoryReplayStore(max_entries=5)"
