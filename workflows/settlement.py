"""The monthly settlement (정산 Job): a parent that fans out over member-id shards.

MonthlySettlementWorkflow   id settlement-YYYY-MM
  └─ SettlementShardWorkflow × N   id settlement-YYYY-MM/shard-KKKK, at most `parallel` at once
       └─ activity settlement.settle_shard (chunks, heartbeats, resumes after a crash)
ScheduledSettlementWorkflow: what the monthly Temporal Schedule starts; settles the month before
  the instant the Schedule meant (a run caught up late settles the month it stands for).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from telebill.contracts.dispatch import DispatchInput
    from telebill.contracts.settlement import (
        CLOSE,
        MONTHLY_WORKFLOW,
        OPEN,
        PROGRESS,
        SCHEDULED_WORKFLOW,
        SETTLE_SHARD,
        SHARD_WORKFLOW,
        CloseInput,
        ScheduledSettlementInput,
        SettlementInput,
        SettlementProgress,
        SettlementScope,
        SettlementSummary,
        ShardInput,
        ShardResult,
        settlement_id,
    )
    from telebill.domain.month import previous_month, shard_ranges

from workflows.dispatch import DispatchWorkflow
from workflows.schedule_time import SCHEDULED_INSTANT_PATCH, scheduled_instant

__all__ = ["ScheduledSettlementInput", "SettlementInput", "SettlementProgress", "settlement_id"]


@workflow.defn(name=SHARD_WORKFLOW)
class SettlementShardWorkflow:
    @workflow.run
    async def run(self, inp: ShardInput, heartbeat_timeout_s: float = 60.0) -> ShardResult:
        result: ShardResult = await workflow.execute_activity(
            SETTLE_SHARD,
            inp,
            result_type=ShardResult,
            start_to_close_timeout=timedelta(hours=6),
            heartbeat_timeout=timedelta(seconds=heartbeat_timeout_s),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
            ),
        )
        return result


@workflow.defn(name=MONTHLY_WORKFLOW)
class MonthlySettlementWorkflow:
    def __init__(self) -> None:
        self._progress = SettlementProgress(month="")

    @workflow.query(name=PROGRESS)
    def progress(self) -> SettlementProgress:
        return self._progress

    @workflow.run
    async def run(self, inp: SettlementInput) -> SettlementSummary:
        p = self._progress = SettlementProgress(month=inp.month)
        sid = settlement_id(inp.month)
        short = timedelta(minutes=5)
        retry = RetryPolicy(maximum_interval=timedelta(seconds=30))
        scope: SettlementScope = await workflow.execute_activity(
            OPEN,
            args=[sid, inp.month],
            result_type=SettlementScope,
            start_to_close_timeout=short,
            retry_policy=retry,
        )
        shards = shard_ranges(scope.first_member_id, scope.last_member_id, inp.shard_size)
        p.members, p.shards_total, p.phase = scope.members, len(shards), "settling"
        gate = asyncio.Semaphore(max(1, inp.parallel))

        async def settle(index: int, first: int, last: int) -> None:
            async with gate:
                result: ShardResult = await workflow.execute_child_workflow(
                    SettlementShardWorkflow.run,
                    args=[
                        ShardInput(
                            settlement_id=sid,
                            month=inp.month,
                            first_member_id=first,
                            last_member_id=last,
                            chunk_size=inp.chunk_size,
                        ),
                        inp.heartbeat_timeout_s,
                    ],
                    id=f"{workflow.info().workflow_id}/shard-{index:04d}",
                )
            p.shards_done += 1
            p.members_done += result.members
            p.bills_created += result.bills
            p.items_created += result.items
            p.errors += result.errors

        await asyncio.gather(*(settle(i, lo, hi) for i, (lo, hi) in enumerate(shards, start=1)))
        p.phase = "closing"
        summary: SettlementSummary = await workflow.execute_activity(
            CLOSE,
            CloseInput(settlement_id=sid, month=inp.month),
            result_type=SettlementSummary,
            start_to_close_timeout=short,
            retry_policy=retry,
        )
        p.summary, p.phase = summary, "done"
        if inp.notify:
            # The month's bills are committed and reported; their notification workflows are
            # started by a dispatch of its own, so the settlement (and whoever waits for it)
            # is not held up by a million workflow starts.
            try:
                await workflow.start_child_workflow(
                    DispatchWorkflow.run,
                    DispatchInput(month=inp.month, parallel=inp.parallel),
                    id=f"{workflow.info().workflow_id}/dispatch",
                    task_queue=inp.dispatch_queue,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                workflow.logger.info("notifications of %s are being started already", inp.month)
        return summary


@workflow.defn(name=SCHEDULED_WORKFLOW)
class ScheduledSettlementWorkflow:
    """Started by the monthly Schedule: settles the month before the one the Schedule meant (a
    run that starts on 3 December for the 1 November run settles October, not November; by
    hand: the month before now)."""

    @workflow.run
    async def run(self, inp: ScheduledSettlementInput) -> str:
        meant = scheduled_instant() if workflow.patched(SCHEDULED_INSTANT_PATCH) else workflow.now()
        target = previous_month(meant, inp.time_zone)
        base = inp.settlement or SettlementInput(month=target)
        params = SettlementInput(
            month=target,
            shard_size=base.shard_size,
            chunk_size=base.chunk_size,
            parallel=base.parallel,
            heartbeat_timeout_s=base.heartbeat_timeout_s,
            notify=base.notify,
            dispatch_queue=base.dispatch_queue or inp.dispatch_queue,
        )
        try:
            await workflow.start_child_workflow(
                MonthlySettlementWorkflow.run,
                params,
                id=settlement_id(target),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("settlement of %s already running", target)
        return target
