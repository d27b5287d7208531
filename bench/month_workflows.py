"""The baselines of bench.month (the no-op activity is bench.notify's). Their own module: the
workflow sandbox re-imports it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from bench.minimal_workflow import noop


@workflow.defn
class SleepThenWork:
    """The send day's baseline: one timer until an instant, then one no-op activity."""

    @workflow.run
    async def run(self, wake_in_s: float) -> int:
        await workflow.sleep(timedelta(seconds=wake_in_s))
        result: int = await workflow.execute_activity(
            noop, 1, start_to_close_timeout=timedelta(minutes=1)
        )
        return result


@workflow.defn
class DelayedNoop:
    """The scheduling baseline: started delayed, with the four search attributes."""

    @workflow.run
    async def run(self) -> None:
        return None
