"""The monthly retention: started by its Schedule on day 2, it archives the months past the
online span and removes the archives past the years kept, in one activity (it heartbeats per
table, so a worker lost mid-month hands the rest to another; a month half-written is written
again, a month archived is not: its partitions are gone)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from telebill.contracts.retention import (
        ARCHIVE_DUE,
        RETENTION_WORKFLOW,
        RetentionInput,
        RetentionRequest,
        RetentionResult,
    )

# A retry waits out an outage (PostgreSQL, the archive's disk), at most an hour apart; a month
# that cannot be archived (still delivering) fails the run, for the alert, and is tried again
# next month.
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=30), maximum_interval=timedelta(hours=1), maximum_attempts=10
)


@workflow.defn(name=RETENTION_WORKFLOW)
class MonthlyRetentionWorkflow:
    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionResult:
        result: RetentionResult = await workflow.execute_activity(
            ARCHIVE_DUE,
            RetentionRequest(now=workflow.now().isoformat(), time_zone=inp.time_zone),
            result_type=RetentionResult,
            start_to_close_timeout=timedelta(hours=12),
            heartbeat_timeout=timedelta(minutes=10),
            retry_policy=RETRY,
        )
        return result
