"""The settlement workflows' orchestration on the time-skipping server, with stand-in activities
(the real ones are exercised against PostgreSQL in tests/integration)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from telebill.contracts.settlement import (
    CloseInput,
    SettlementScope,
    SettlementSummary,
    ShardInput,
    ShardResult,
)
from telebill.domain.month import MAX_SHARDS, previous_month, shard_ranges
from workflows.settlement import (
    MonthlySettlementWorkflow,
    SettlementInput,
    SettlementShardWorkflow,
)


def test_shard_ranges_cover_every_member_once() -> None:
    ranges = shard_ranges(1, 10_001, 1_000)
    assert ranges[0] == (1, 1_000) and ranges[-1] == (10_001, 10_001)
    covered = [m for lo, hi in ranges for m in range(lo, hi + 1)]
    assert covered == list(range(1, 10_002))
    assert shard_ranges(1, 0, 1_000) == []


def test_shard_count_is_bounded_whatever_the_population() -> None:
    assert len(shard_ranges(1, 50_000_000, 1_000)) <= MAX_SHARDS


def test_previous_month_is_taken_in_the_schedule_time_zone() -> None:
    # 2026-12-01 01:00 in Seoul is still 2026-11-30 in UTC: Seoul's previous month is November.
    assert previous_month(datetime(2026, 11, 30, 16, 0, tzinfo=UTC), "Asia/Seoul") == "2026-11"
    assert previous_month(datetime(2027, 1, 1, 0, 0, tzinfo=UTC), "Asia/Seoul") == "2026-12"


class StandIns:
    def __init__(self, members: int) -> None:
        self.members = members
        self.running = 0
        self.max_running = 0
        self.shards: list[tuple[int, int]] = []

    @activity.defn(name="settlement.open")
    async def open_settlement(self, sid: str, month: str) -> SettlementScope:
        return SettlementScope(
            settlement_id=sid,
            month=month,
            first_member_id=1,
            last_member_id=self.members,
            members=self.members,
            run=1,
        )

    @activity.defn(name="settlement.settle_shard")
    async def settle_shard(self, inp: ShardInput) -> ShardResult:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        await asyncio.sleep(0.05)
        self.running -= 1
        self.shards.append((inp.first_member_id, inp.last_member_id))
        n = inp.last_member_id - inp.first_member_id + 1
        return ShardResult(
            members=n,
            bills=n,
            items=5 * n,
            first_member_id=inp.first_member_id,
            last_member_id=inp.last_member_id,
        )

    @activity.defn(name="settlement.close")
    async def close_settlement(self, inp: CloseInput) -> SettlementSummary:
        n = sum(hi - lo + 1 for lo, hi in self.shards)
        return SettlementSummary(
            settlement_id=inp.settlement_id,
            month=inp.month,
            members=self.members,
            bills=n,
            items=5 * n,
            errors=0,
            amount_due=0,
            totals={},
            bills_created=n,
            items_created=5 * n,
        )


async def test_fan_out_is_bounded_and_every_shard_runs_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    client = time_skipping_env.client
    stand_ins = StandIns(members=10_500)
    tq = f"settle-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=tq,
        workflows=[MonthlySettlementWorkflow, SettlementShardWorkflow],
        activities=[stand_ins.open_settlement, stand_ins.settle_shard, stand_ins.close_settlement],
    ):
        wid = f"settlement-2026-11-{uuid.uuid4().hex[:6]}"
        summary = await client.execute_workflow(
            MonthlySettlementWorkflow.run,
            SettlementInput(
                month="2026-11", shard_size=1_000, chunk_size=100, parallel=3, notify=False
            ),
            id=wid,
            task_queue=tq,
        )
        # Children have deterministic ids under their parent's: <parent>/shard-0001 … -0011.
        for index in (1, 11):
            described = await client.get_workflow_handle(f"{wid}/shard-{index:04d}").describe()
            assert described.workflow_type == "SettlementShardWorkflow"
    assert sorted(stand_ins.shards) == shard_ranges(1, 10_500, 1_000)
    assert 1 < stand_ins.max_running <= 3
    assert summary.bills_created == 10_500 and summary.items_created == 52_500
