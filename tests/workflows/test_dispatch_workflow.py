"""The daily Schedule's dispatch on the time-skipping server: it catches up the month being sent
and the one before it (a send instant late on a send month's last day can pass in an outage
that outlasts the month). The activities are stand-ins recording what they were asked; the real
ones start workflows against PostgreSQL in tests/integration."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notification import MonthScope, ReservationRef, StartInput
from telebill.domain.month import months_before
from workflows.notification import (
    CATCH_UP_MONTHS,
    DispatchInput,
    DispatchResult,
    DispatchWorkflow,
    ScheduledDispatchWorkflow,
)


class StandIns:
    def __init__(self, settled: set[str], reservations: list[ReservationRef] | None = None) -> None:
        self.settled = settled
        self.asked: list[StartInput] = []
        self.reservations = reservations or []
        self.dispatched: list[int] = []

    @activity.defn(name="notify.undispatched_reservations")
    async def undispatched_reservations(self) -> list[ReservationRef]:
        return [r for r in self.reservations if r.id not in self.dispatched]

    @activity.defn(name="notify.reservation_dispatched")
    async def reservation_dispatched(self, reservation_id: int) -> None:
        self.dispatched.append(reservation_id)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.month_scope,
            self.start_range,
            self.undispatched_reservations,
            self.reservation_dispatched,
        ]

    @activity.defn(name="notify.month_scope")
    async def month_scope(self, month: str) -> MonthScope | None:
        return MonthScope(month, 1, 10) if month in self.settled else None

    @activity.defn(name="notify.start_range")
    async def start_range(self, inp: StartInput) -> int:
        self.asked.append(inp)
        return inp.last_member_id - inp.first_member_id + 1


async def daily_dispatch(env: WorkflowEnvironment, s: StandIns) -> list[DispatchResult]:
    queue = f"dispatch-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[ScheduledDispatchWorkflow, DispatchWorkflow],
        activities=s.activities(),
    ):
        return await env.client.execute_workflow(
            ScheduledDispatchWorkflow.run,
            "Asia/Seoul",
            id=f"scheduled-dispatch-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )


async def test_the_daily_dispatch_catches_up_the_last_two_months(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    latest, before, older = months_before(await env.get_current_time(), "Asia/Seoul", 3)
    s = StandIns({latest, before, older})
    results = await daily_dispatch(env, s)
    assert CATCH_UP_MONTHS == 2
    assert results == [DispatchResult(latest, 10), DispatchResult(before, 10)]
    assert sorted(a.month for a in s.asked) == sorted([latest, before])  # not `older`
    assert all(a.only_overdue and a.members is None for a in s.asked)


async def test_the_daily_dispatch_starts_a_reservation_whose_own_dispatch_failed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    latest, before = months_before(await env.get_current_time(), "Asia/Seoul", 2)
    kept = ReservationRef(7, before, [3, 4], "2030-01-05T10:00:00+09:00")
    s = StandIns({latest, before}, [kept])
    results = await daily_dispatch(env, s)
    assert results[-1] == DispatchResult(before, 10)
    [reserved] = [a for a in s.asked if a.reserved_at]
    assert (reserved.month, reserved.members, reserved.reserved_at) == (
        before,
        [3, 4],
        kept.send_at,
    )
    assert not reserved.only_overdue and s.dispatched == [7]


async def test_each_range_is_given_only_its_own_members(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A send now naming many members: each range's activity input holds its members only
    (the whole list in every input made a 100,000-member dispatch's history 10 MB)."""
    env = time_skipping_env
    s = StandIns({"2026-11"})
    queue = f"dispatch-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[DispatchWorkflow], activities=s.activities()
    ):
        await env.client.execute_workflow(
            DispatchWorkflow.run,
            DispatchInput("2026-11", [3, 4, 9], "2030-01-05T10:00:00+09:00", range_size=5),
            id=f"dispatch-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
    assert sorted((a.first_member_id, a.members) for a in s.asked) == [(1, [3, 4]), (6, [9])]
