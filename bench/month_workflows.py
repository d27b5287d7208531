"""The baselines of bench.month (the no-op activity is bench.notify's). Their own module: the
workflow sandbox re-imports it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from bench.minimal_workflow import hold, noop
from telebill.contracts.search_attributes import NOTIFY_STATUS
from telebill.domain.statuses import delivered_status


@workflow.defn
class DelayedThenWork:
    """The send day's baseline: started delayed until an instant, as the bills are (no task
    before it), then one no-op activity."""

    @workflow.run
    async def run(self) -> int:
        result: int = await workflow.execute_activity(
            noop, 1, start_to_close_timeout=timedelta(minutes=1)
        )
        return result


@workflow.defn(sandboxed=False)
class DelayedThenWorkUnsandboxed(DelayedThenWork):
    """The same baseline run outside the sandbox, as the notification is: what the send day
    gains by its design and not by leaving the sandbox (`bench.month --baseline-unsandboxed`)."""

    @workflow.run
    async def run(self) -> int:
        return await super().run()


@workflow.defn
class DelayedNoop:
    """The scheduling baseline: started delayed, with the four search attributes."""

    @workflow.run
    async def run(self) -> None:
        return None


@workflow.defn(sandboxed=False)
class OneLocalTask:
    """The send day's ceiling: woken by its delayed start, one workflow task that holds one
    local activity for `hold_s` (the plan's outcome wait) and completes, optionally upserting
    a NotifyStatus first as the notification does. Unsandboxed, like the notification."""

    @workflow.run
    async def run(self, hold_s: float, upsert: bool) -> float:
        held: float = await workflow.execute_local_activity(
            hold, hold_s, schedule_to_close_timeout=timedelta(seconds=30)
        )
        if upsert:
            workflow.upsert_search_attributes([NOTIFY_STATUS.value_set(delivered_status("email"))])
        return held
