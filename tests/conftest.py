"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from replay_support import RedisServer, redis_server_executable

# -- redis-server (replay store tests) ---------------------------------------


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port; the test may kill and restart it.

    Without ``redis-server`` on PATH the test is skipped, except under CI
    (the ``CI`` environment variable set), where that is a failure.
    """
    server = RedisServer(redis_server_executable(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The ``redis://`` URL of a fresh redis-server (see ``redis_server``)."""
    return redis_server.url


# -- hypothesis profiles ---------------------------------------------------------
#
# ``dev`` for a quick local run, ``ci`` (many more examples) wherever the ``CI``
# environment variable is set; ``HYPOTHESIS_PROFILE`` picks one by name first
# (.ci/run names ``dev``, to stay under 30 minutes). A test's own
# ``@settings(max_examples=…)`` still wins over both.
settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
