"""The baseline of the notification benchmark: a workflow with one no-op activity.
(Its own module: the workflow sandbox re-imports it.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
async def noop(n: int) -> int:
    return n


@workflow.defn
class MinimalWorkflow:
    @workflow.run
    async def run(self, n: int) -> int:
        result: int = await workflow.execute_activity(
            noop, n, start_to_close_timeout=timedelta(minutes=1)
        )
        return result


@activity.defn(name="bench.hold")
async def hold(seconds: float) -> float:
    """What a send day's local plan does at its least: wait (for the outcome) and return."""
    await asyncio.sleep(seconds)
    return seconds
