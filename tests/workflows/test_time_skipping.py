"""A workflow that sleeps for weeks finishes at once on the time-skipping server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker


@activity.defn
async def stamp(label: str) -> str:
    return f"stamped {label}"


@workflow.defn
class SleepsForWeeks:
    @workflow.run
    async def run(self, days: int) -> tuple[float, str]:
        before = workflow.now()
        await workflow.sleep(timedelta(days=days))
        stamped = await workflow.execute_activity(
            stamp, "after sleep", start_to_close_timeout=timedelta(seconds=10)
        )
        return (workflow.now() - before).total_seconds(), stamped


async def test_sleep_of_thirty_days_completes_with_time_skipping(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    client = time_skipping_env.client
    task_queue = f"tq-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=task_queue, workflows=[SleepsForWeeks], activities=[stamp]
    ):
        slept, stamped = await client.execute_workflow(
            SleepsForWeeks.run, 30, id=f"sleeper-{uuid.uuid4()}", task_queue=task_queue
        )
    # Workflow time moved 30 days forward; the test itself took far less (pytest shows it).
    assert slept >= timedelta(days=30).total_seconds()
    assert stamped == "stamped after sleep"
