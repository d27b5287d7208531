"""A Schedule's run that starts late does the work of the instant it stands for (issue 32, item
1): the monthly settlement settles the month before the instant the Schedule meant, the daily
dispatch catches up that day's months. Temporal gives a scheduled run that instant in the
search attribute `TemporalScheduledStartTime`; here the test starts the workflows with it set,
as a Schedule caught up a month late would (tests/integration/test_schedules.py does it with a
real Schedule's backfill on the dev server).

Every instant is derived from the server's clock (tests/clock.py), never written down: the run
"meant" 02:00 Seoul on day 1 of the month before now's, so it is always a month or more late
and crosses at least one month boundary."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, time
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notification import MonthScope, ReservationRef, StartInput
from telebill.contracts.settlement import (
    CloseInput,
    SettlementScope,
    SettlementSummary,
    ShardInput,
    ShardResult,
)
from telebill.domain.month import months_before, parse_month, previous_month
from tests.clock import SEOUL
from workflows.dispatch import DispatchWorkflow, ScheduledDispatchWorkflow
from workflows.schedule_time import SCHEDULED_START_TIME
from workflows.settlement import (
    MonthlySettlementWorkflow,
    ScheduledSettlementInput,
    ScheduledSettlementWorkflow,
    SettlementInput,
    SettlementShardWorkflow,
    settlement_id,
)


@pytest.fixture
async def env(own_clock_env: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    """A server of the test's own (the settlement's child ids are the real ones) that knows the
    attribute: the dev server has it built in, the time-skipping server must be told."""
    await own_clock_env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=own_clock_env.client.namespace,
            search_attributes={
                SCHEDULED_START_TIME.name: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
            },
        )
    )
    yield own_clock_env


def meant_a_month_ago(now: datetime) -> datetime:
    """02:00 Seoul on day 1 of the month before now's (now 2026-12-03 → 2026-11-01 02:00)."""
    first_of_last_month = parse_month(months_before(now, "Asia/Seoul", 1)[0])
    return datetime.combine(first_of_last_month, time(2, 0), SEOUL)


def as_scheduled(at: datetime) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(SCHEDULED_START_TIME, at)])


class Settle:
    @activity.defn(name="settlement.open")
    async def open_settlement(self, sid: str, month: str) -> SettlementScope:
        return SettlementScope(
            settlement_id=sid, month=month, first_member_id=1, last_member_id=4, members=4, run=1
        )

    @activity.defn(name="settlement.settle_shard")
    async def settle_shard(self, inp: ShardInput) -> ShardResult:
        n = inp.last_member_id - inp.first_member_id + 1
        return ShardResult(members=n, bills=n, items=2 * n)

    @activity.defn(name="settlement.close")
    async def close_settlement(self, inp: CloseInput) -> SettlementSummary:
        return SettlementSummary(
            settlement_id=inp.settlement_id,
            month=inp.month,
            members=4,
            bills=4,
            items=8,
            errors=0,
            amount_due=0,
            totals={},
            bills_created=4,
            items_created=8,
        )


async def scheduled_settlement(
    env: WorkflowEnvironment, meant: datetime | None
) -> tuple[str, SettlementSummary]:
    """What the monthly Schedule's workflow settled, and the settlement it started."""
    queue = f"settle-{uuid.uuid4().hex[:8]}"
    s = Settle()
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[ScheduledSettlementWorkflow, MonthlySettlementWorkflow, SettlementShardWorkflow],
        activities=[s.open_settlement, s.settle_shard, s.close_settlement],
    ):
        month: str = await env.client.execute_workflow(
            ScheduledSettlementWorkflow.run,
            ScheduledSettlementInput(settlement=SettlementInput(month="", notify=False)),
            id=f"scheduled-settlement-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
            search_attributes=as_scheduled(meant) if meant else None,
        )
        # by id and result type: mypy inferred the method form's types as Never on a clean run
        child = env.client.get_workflow_handle(settlement_id(month), result_type=SettlementSummary)
        summary: SettlementSummary = await child.result()
        return month, summary


async def test_a_settlement_run_a_month_late_settles_the_month_it_stands_for(
    env: WorkflowEnvironment,
) -> None:
    now = await env.get_current_time()
    meant = meant_a_month_ago(now)
    stands_for = previous_month(meant, "Asia/Seoul")  # now 2026-12-03: October
    assert stands_for != previous_month(now, "Asia/Seoul")  # what now would have settled
    month, summary = await scheduled_settlement(env, meant)
    assert (month, summary.month) == (stands_for, stands_for)


async def test_a_settlement_started_by_hand_settles_the_month_before_now(
    env: WorkflowEnvironment,
) -> None:
    now = await env.get_current_time()
    month, _ = await scheduled_settlement(env, None)
    assert month == previous_month(now, "Asia/Seoul")


class Dispatch:
    def __init__(self) -> None:
        self.months: list[str] = []

    @activity.defn(name="notify.month_scope")
    async def month_scope(self, month: str) -> MonthScope | None:
        self.months.append(month)
        return MonthScope(month=month, first_member_id=1, last_member_id=10)

    @activity.defn(name="notify.start_range")
    async def start_range(self, inp: StartInput) -> int:
        return 0

    @activity.defn(name="notify.undispatched_reservations")
    async def undispatched_reservations(self) -> list[ReservationRef]:
        return []

    @activity.defn(name="notify.undispatched_reservation_refs")
    async def undispatched_reservation_refs(self) -> list[ReservationRef]:
        return []

    @activity.defn(name="notify.reservation_dispatched")
    async def reservation_dispatched(self, reservation_id: Any) -> None:
        return None


async def test_a_dispatch_run_a_month_late_catches_up_its_day_and_today(
    env: WorkflowEnvironment,
) -> None:
    now = await env.get_current_time()
    meant = meant_a_month_ago(now)
    d = Dispatch()
    queue = f"dispatch-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[ScheduledDispatchWorkflow, DispatchWorkflow],
        activities=[
            d.month_scope,
            d.start_range,
            d.undispatched_reservations,
            d.undispatched_reservation_refs,
            d.reservation_dispatched,
        ],
    ):
        await env.client.execute_workflow(
            ScheduledDispatchWorkflow.run,
            "Asia/Seoul",
            id=f"scheduled-dispatch-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
            search_attributes=as_scheduled(meant),
        )
    its_day = months_before(meant, "Asia/Seoul", 2)  # now 2026-12-03: October, September
    today = months_before(now, "Asia/Seoul", 2)  # November, October
    assert its_day != today
    assert d.months == sorted(set(its_day) | set(today), reverse=True)
