"""The samples' cost a request in one process, beside their twins, the floor and the reference.

    python benchmarks/bench_inprocess.py                # about a minute
    python benchmarks/bench_inprocess.py --size smoke   # every row once

``bench_servers.py`` gives issue #14's figures, under the real servers; on
a 2-core VM its per-round figures spread by ±30–60 µs of server CPU, so it
cannot tell where a change of ten microseconds went. This bench calls the
same apps directly, in this process: the Flask and FastAPI samples as
shipped (their own edgeclaims.toml with the memory store), their bare twins,
the floor, the reference verifier, and the sample with its middleware swapped
for the reference (``server_rig.py``). Every call gets a
request signed for it alone (its own nonce, so its own strings: nothing is
found warm that a server would find cold), and the apps take turns, one
batch each, round after round. Figures: the median over the rounds of each
app's time a request, and of its time minus the twin's in the same round.

It is a tool for finding where the cost of a request goes and what a
change moves, not the judge of a budget: the servers add their own costs
(GIL hand-offs between waitress' threads, the event loop), so the added
µs here are of the order of bench_servers' added server CPU, not equal to
it. Nothing is asserted; the one check is that every app answers the
signed request with the twin's document.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from bench_servers import TARGET, VIEWER, write_config
from server_rig import (
    VIEWER_DOCUMENT,
    fastapi_floor,
    fastapi_reference,
    fastapi_sample_reference,
    fastapi_twin,
    flask_floor,
    flask_reference,
    flask_sample_reference,
    flask_twin,
    import_sample,
)

from edgeclaims.testing import EdgeSigner

URL = f"http://localhost:8000{TARGET}"
#: The apps of each flavor, in the order they are printed; the first is the baseline.
APPS = ("bare twin", "floor", "reference verifier", "sample on reference", "sample")


@dataclass(frozen=True)
class Size:
    rounds: int
    batch: int  # requests per app per round


SIZES = {"smoke": Size(rounds=1, batch=20), "full": Size(rounds=9, batch=2000)}


def configure(config: Path) -> None:
    """Name ``config`` in EDGECLAIMS_CONFIG, where the samples (and their copies on the
    reference, server_rig.py) read it when imported."""
    os.environ["EDGECLAIMS_CONFIG"] = str(config)


# -- calling the apps ----------------------------------------------------------------


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    pass


def wsgi_batch(app: Callable[..., Iterable[bytes]], environs: list[dict[str, Any]]) -> float:
    """Seconds to serve every environ, the body read and closed as a server does."""
    started = time.perf_counter()
    for environ in environs:
        body = app(environ, _start_response)
        for _ in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return time.perf_counter() - started


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: dict[str, Any]) -> None:
    pass


async def asgi_batch(app: Callable[..., Any], scopes: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for scope in scopes:
        await app(scope, _receive, _discard)
    return time.perf_counter() - started


def wsgi_document(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> object:
    statuses: list[str] = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return json.loads(body) if statuses == ["200 OK"] else statuses


async def asgi_document(app: Callable[..., Any], scope: dict[str, Any]) -> object:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, _receive, send)
    if sent[0]["status"] != 200:
        return sent[0]["status"]
    return json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


# -- one flavor ---------------------------------------------------------------------------


def wsgi_environ(signer: EdgeSigner) -> dict[str, Any]:
    environ = signer.wsgi_environ("GET", URL, VIEWER)
    environ["wsgi.input"] = io.BytesIO(b"")
    return environ


def take_turns(
    label: str,
    apps: dict[str, Any],
    size: Size,
    answer: Callable[[Any], object],
    batch: Callable[[Any, int], float],
) -> dict[str, list[float]]:
    """Seconds a request of each app, round by round, the apps taking turns (order swapped)."""
    for name, app in apps.items():
        document = answer(app)
        if document != VIEWER_DOCUMENT:
            raise RuntimeError(f"{label} {name}: {document!r}")
    seconds: dict[str, list[float]] = {name: [] for name in apps}
    for round_index in range(size.rounds):
        order = list(apps) if round_index % 2 == 0 else list(reversed(apps))
        for name in order:
            seconds[name].append(batch(apps[name], size.batch) / size.batch)
    return seconds


def measure_flask(config: Path, size: Size) -> dict[str, list[float]]:
    signer = EdgeSigner.for_config(str(config))
    configure(config)
    sample = import_sample("flask_app", "app").app
    apps = dict(
        zip(
            APPS,
            (flask_twin(), flask_floor(), flask_reference(), flask_sample_reference(), sample),
            strict=True,
        )
    )
    return take_turns(
        "Flask",
        apps,
        size,
        lambda app: wsgi_document(app, wsgi_environ(signer)),
        lambda app, count: wsgi_batch(app, [wsgi_environ(signer) for _ in range(count)]),
    )


def measure_fastapi(config: Path, size: Size) -> dict[str, list[float]]:
    signer = EdgeSigner.for_config(str(config))
    configure(config)
    sample = import_sample("fastapi_app", "main").app
    apps = dict(
        zip(
            APPS,
            (
                fastapi_twin(),
                fastapi_floor(),
                fastapi_reference(),
                fastapi_sample_reference(),
                sample,
            ),
            strict=True,
        )
    )
    loop = asyncio.new_event_loop()

    def scopes(count: int) -> list[dict[str, Any]]:
        return [signer.asgi_scope("GET", URL, VIEWER) for _ in range(count)]

    try:
        return take_turns(
            "FastAPI",
            apps,
            size,
            lambda app: loop.run_until_complete(asgi_document(app, scopes(1)[0])),
            lambda app, count: loop.run_until_complete(asgi_batch(app, scopes(count))),
        )
    finally:
        loop.close()


def print_flavor(label: str, seconds: dict[str, list[float]]) -> None:
    bare = seconds[APPS[0]]
    print(f"\n{label}")
    print(f"  {'app':<20} {'µs a request':>13} {'added':>8} {'twin ÷ app':>11}")
    for name, runs in seconds.items():
        added = median(s - b for s, b in zip(runs, bare, strict=True)) * 1e6
        ratio = median(b / s for s, b in zip(runs, bare, strict=True))
        print(f"  {name:<20} {median(runs) * 1e6:13.1f} {added:+8.1f} {ratio:10.3f}×")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    size = SIZES[parser.parse_args().size]
    # The reference verifier's store, read when its factory runs (server_rig.py).
    os.environ["EDGECLAIMS_REFERENCE_STORE"] = "memory"
    print(
        f"bench_inprocess: Python {sys.version.split()[0]}; {size.rounds} round(s) of "
        f"{size.batch} requests an app, each signed for one call; medians over rounds"
    )
    with tempfile.TemporaryDirectory() as folder:
        flask_config = write_config("flask_app", "memory", Path(folder), None)
        fastapi_config = write_config("fastapi_app", "memory", Path(folder), None)
        print_flavor("Flask (WSGI, called directly)", measure_flask(flask_config, size))
        print_flavor("FastAPI (ASGI, called directly)", measure_fastapi(fastapi_config, size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
