"""An activity's heartbeat kept up while it waits, so that the server tells a dead worker's
activity from a slow one within the heartbeat timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from temporalio import activity


@dataclass
class Pulse:
    """What `heartbeating` sends: the activity's latest progress (the server keeps only the
    last heartbeat's details, so each repeats them)."""

    details: tuple[Any, ...] = ()


@contextlib.asynccontextmanager
async def heartbeating(*details: Any) -> AsyncIterator[Pulse]:
    """Heartbeat every quarter of the activity's heartbeat timeout for as long as the block
    runs, whatever it waits on (a send to Kafka, the outcome, a page of workflow starts): the
    server then tells a dead worker's activity from a slow one within that timeout and hands
    it to a live worker, instead of waiting out start_to_close. Nothing to do for a local
    activity (its workflow task is what the server watches), one without a timeout, or a call
    outside any activity (a test calling the method)."""
    pulse = Pulse(details)
    info = activity.info() if activity.in_activity() else None
    if info is None or info.is_local or info.heartbeat_timeout is None:
        yield pulse
        return
    every = info.heartbeat_timeout.total_seconds() / 4

    async def beat() -> None:
        while True:
            activity.heartbeat(*pulse.details)
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield pulse
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
