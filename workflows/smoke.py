"""SmokeWorkflow: proves the three services work together (used by `telebill stack check`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.smoke import SmokeInput, SmokeResult, smoke_round_trip


@workflow.defn
class SmokeWorkflow:
    @workflow.run
    async def run(self, inp: SmokeInput) -> SmokeResult:
        return await workflow.execute_activity(
            smoke_round_trip, inp, start_to_close_timeout=timedelta(seconds=60)
        )
