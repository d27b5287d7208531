"""A workflow kept in a module of its own: the sandbox re-imports a workflow's module, so it holds
nothing but the workflow and its activity."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn
async def wake_note(name: str) -> str:
    return f"{name} woke up"


@workflow.defn
class SleepsAcrossRestart:
    @workflow.run
    async def run(self, name: str) -> str:
        await workflow.sleep(timedelta(seconds=3))
        return await workflow.execute_activity(
            wake_note, name, start_to_close_timeout=timedelta(seconds=30)
        )
