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
        assert len(store) <= 201  # forgotten in whole seconds: up to a second more


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryReplayStore(max_entries=0)


def test_repr() -> None:
    assert repr(MemoryReplayStore(max_entries=5)) == "MemoryReplayStore(max_entries=5)"


def test_ten_thousand_verified_requests_a_second_for_a_whole_ttl_fit_in_64_mib() -> None:
    """The default store takes 10,000 new nonces a second through the longest default ttl.

    The ttl of a first sighting at the earliest instant a signature verifies
    is max_age + 3·leeway + 1 s = 46 s with the defaults; 47 s of traffic
    fills the store to its steady state. No 503 on the way, at most 64 MiB.
    """
    import tracemalloc

    clock = FakeClock()
    tracemalloc.start()
    try:
        store = MemoryReplayStore(clock=clock)  # the default max_entries
        for second in range(47):
            for index in range(10_000):
                clock.now = 1_795_731_572 + second + index / 10_000
                assert store.check_and_record("rfc9421", "2026-11", f"{second}-{index}", 46.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(store) >= 460_000
    assert peak <= 64 * 2**20, f"{peak / 2**20:.1f} MiB"


def test_a_full_store_refuses_and_never_forgets_a_live_nonce() -> None:
    clock = FakeClock()
    store = MemoryReplayStore(max_entries=1_000, clock=clock)
    for index in range(1_000):
        assert store.check_and_record("rfc9421", "k", f"n{index}", 60) is True
    with pytest.raises(ReplayStoreUnavailable):
        store.check_and_record("rfc9421", "k", "one-more", 60)
    assert store.check_and_record("rfc9421", "k", "n0", 60) is False  # still remembered
    clock.advance(61)
    assert store.check_and_record("rfc9421", "k", "one-more", 60) is True
