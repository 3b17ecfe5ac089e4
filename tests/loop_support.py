"""Whether code awaited on an event loop leaves the loop free to run other tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ["loop_ticks_while"]


async def loop_ticks_while(waiting: Awaitable[object]) -> tuple[int, BaseException | None]:
    """How often a 10 ms ticker ran on the event loop while ``waiting`` was awaited.

    Gives the ticks and what ``waiting`` raised (None when it returned): code
    that blocks the loop leaves the ticker at 0 however long it waits.
    """
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        await waiting
    except Exception as exc:
        return ticks, exc
    finally:
        ticker.cancel()
    return ticks, None
