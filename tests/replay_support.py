"""Real services for the replay tests: a redis-server process and spawned workers.

Workers are started with the "spawn" method, the only one Windows has: each
is a fresh interpreter that imports edgeclaims, builds its own store (and
its own WSGI middleware), exactly as IIS starts one Python process per
FastCGI instance. A barrier releases them at the same instant for the
concurrency tests.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from types import TracebackType
from typing import Any

READY_TIMEOUT = 120.0  # spawning 8 interpreters on a slow CI box
ANSWER_TIMEOUT = 60.0


class FakeClock:
    """An injected clock: tests move time, never sleep."""

    def __init__(self, now: float = 1_795_731_572.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """A loopback TCP port nobody listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_server_executable() -> str:
    """``redis-server`` on PATH; otherwise skip the test, or fail it under CI."""
    import pytest  # here, so that the benchmarks can use this module without pytest

    executable = shutil.which("redis-server")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed, and CI must run the Redis tests")
        pytest.skip("redis-server not installed: apt-get install redis-server")
    return executable


class RedisServer:
    """A throw-away ``redis-server`` on a loopback port: no persistence, killable, restartable."""

    def __init__(self, executable: str, directory: Path, port: int | None = None) -> None:
        self.executable = executable
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start on ``self.port`` (the same port again after a kill) and wait for PING."""
        log = (self.directory / "redis.log").open("ab")
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",  # no RDB snapshots
            "appendonly": "no",
            "dir": str(self.directory),
            "daemonize": "no",
        }
        arguments = [self.executable]
        for name, value in options.items():
            arguments += [f"--{name}", value]
        self.process = subprocess.Popen(
            arguments,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = (self.directory / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited: {output[-2000:]}")
            if self.ping():
                return
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {timeout}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Kill it hard (SIGKILL / TerminateProcess): an outage, not a shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        self.kill()


# -- worker processes -------------------------------------------------------


def _store_handler(replay: dict[str, Any]) -> Callable[[Any], Any]:
    from edgeclaims.config import ReplayConfig
    from edgeclaims.errors import ReplayStoreUnavailable
    from edgeclaims.replay import build_replay_store

    store = build_replay_store(ReplayConfig(**replay))
    assert store is not None

    def handle(args: tuple[str, str, str, float]) -> bool | str:
        try:
            return store.check_and_record(*args)
        except ReplayStoreUnavailable as exc:
            return exc.code

    return handle


def _wsgi_handler(replay: dict[str, Any]) -> Callable[[Any], Any]:
    from tables import NOW, ORIGIN, config_mapping

    from edgeclaims.config import load_config
    from edgeclaims.testing import build_wsgi_environ
    from edgeclaims.wsgi import EdgeClaimsMiddleware

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    middleware = EdgeClaimsMiddleware(
        app, load_config(config_mapping(replay=replay)), clock=lambda: NOW
    )

    def handle(request: tuple[str, str, list[tuple[str, str]]]) -> int:
        method, path, headers = request
        statuses: list[str] = []
        body = middleware(
            build_wsgi_environ(method, ORIGIN + path, dict(headers)),
            lambda status, response_headers, exc_info=None: statuses.append(status),
        )
        b"".join(body)
        return int(statuses[0].split()[0])

    return handle


def serve(replay: dict[str, Any], conn: Connection, barrier: Barrier) -> None:
    """A worker process: a store and a WSGI app, answering requests from the pipe."""
    factories = {"store": _store_handler, "wsgi": _wsgi_handler}
    handlers = {"store": _store_handler(replay)}  # the WSGI app is built on first use
    conn.send(("ready", os.getpid()))
    while True:
        message = conn.recv()
        if message is None:
            break
        together, kind, payload = message
        if together:
            barrier.wait(timeout=ANSWER_TIMEOUT)
        try:
            if kind not in handlers:
                handlers[kind] = factories[kind](replay)
            conn.send(("ok", handlers[kind](payload)))
        except BaseException as exc:  # report, keep serving
            conn.send(("error", repr(exc)))
    conn.close()


class WorkerPool:
    """``size`` spawned processes sharing one replay configuration."""

    def __init__(self, replay: dict[str, Any], size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(size)
        self.pipes: list[Connection] = []
        self.processes: list[Any] = []
        for _ in range(size):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=serve, args=(replay, child_end, self.barrier), daemon=True
            )
            self.pipes.append(parent_end)
            self.processes.append(process)
        self.pids: list[int] = []

    def __enter__(self) -> WorkerPool:
        for process in self.processes:
            process.start()
        self.pids = [self._receive(pipe, READY_TIMEOUT) for pipe in self.pipes]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)

    @staticmethod
    def _receive(pipe: Connection, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise TimeoutError("a worker process did not answer")
        status, value = pipe.recv()
        if status == "error":
            raise AssertionError(f"worker failed: {value}")
        return value

    def ask(self, index: int, kind: str, payload: Any) -> Any:
        """Send one request to one worker and wait for its answer."""
        self.pipes[index].send((False, kind, payload))
        return self._receive(self.pipes[index], ANSWER_TIMEOUT)

    def ask_each_in_turn(self, kind: str, payload: Any) -> list[Any]:
        """The same request to every worker, one after the other (a sequential replay)."""
        return [self.ask(index, kind, payload) for index in range(len(self.pipes))]

    def ask_all_at_once(self, kind: str, payload: Any) -> list[Any]:
        """The same request to every worker, all released by one barrier at the same instant."""
        for pipe in self.pipes:
            pipe.send((True, kind, payload))
        answers: list[Any] = []
        failure: BaseException | None = None
        for pipe in self.pipes:  # read every answer, so that none is left for the next ask
            try:
                answers.append(self._receive(pipe, ANSWER_TIMEOUT))
            except AssertionError as exc:
                failure = exc
        if failure is not None:
            raise failure
        return answers
