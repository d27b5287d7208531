"""The daily Schedule's dispatch on the time-skipping server: it catches up the month being sent
and the one before it (a send instant late on a send month's last day can pass in an outage
that outlasts the month), and starts the reservations whose own dispatch failed, naming their
stored member lists. The activities are stand-ins recording what they were asked; the real ones
start workflows against PostgreSQL in tests/integration."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.notification import MonthScope, ReservationRef, StartInput
from telebill.contracts.notification import RESERVATION, MemberListRef
from telebill.domain.month import months_before
from workflows.dispatch import (
    CATCH_UP_MONTHS,
    DispatchInput,
    DispatchResult,
    DispatchWorkflow,
    ScheduledDispatchWorkflow,
)


class StandIns:
    def __init__(
        self, settled: set[str], reservations: dict[int, tuple[str, list[int], str]] | None = None
    ) -> None:
        self.settled = settled
        self.asked: list[StartInput] = []
        # id → (month, members, send_at), as the reserved_send rows hold them
        self.reservations = reservations or {}
        self.dispatched: list[int] = []
        self.started: list[int] = []  # members whose workflow a listed start_range started
        self.last_member = 10  # the settled months' members are 1…last_member

    @activity.defn(name="notify.undispatched_reservations")
    async def undispatched_reservations(self) -> list[ReservationRef]:
        """The lists themselves, as runs from before 2026-12-03 asked (the test fails on it)."""
        return [
            ReservationRef(id=rid, month=month, members=members, send_at=send_at)
            for rid, (month, members, send_at) in self.reservations.items()
            if rid not in self.dispatched
        ]

    @activity.defn(name="notify.undispatched_reservation_refs")
    async def undispatched_reservation_refs(self) -> list[ReservationRef]:
        return [
            ReservationRef(
                id=rid,
                month=month,
                members=None,
                send_at=send_at,
                member_list=MemberListRef(kind=RESERVATION, id=rid),
            )
            for rid, (month, _, send_at) in self.reservations.items()
            if rid not in self.dispatched
        ]

    @activity.defn(name="notify.reservation_dispatched")
    async def reservation_dispatched(self, reservation_id: int) -> None:
        self.dispatched.append(reservation_id)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.month_scope,
            self.start_range,
            self.undispatched_reservations,
            self.undispatched_reservation_refs,
            self.reservation_dispatched,
        ]

    @activity.defn(name="notify.month_scope")
    async def month_scope(self, month: str) -> MonthScope | None:
        return (
            MonthScope(month=month, first_member_id=1, last_member_id=self.last_member)
            if month in self.settled
            else None
        )

    @activity.defn(name="notify.start_range")
    async def start_range(self, inp: StartInput) -> int:
        self.asked.append(inp)
        if inp.member_list is None:
            return inp.last_member_id - inp.first_member_id + 1
        # as the real one does: the stored list's members within this range
        assert inp.member_list.kind == RESERVATION
        _, members, _ = self.reservations[inp.member_list.id]
        mine = [m for m in members if inp.first_member_id <= m <= inp.last_member_id]
        self.started += mine
        return len(mine)


async def daily_dispatch(
    env: WorkflowEnvironment, s: StandIns, wid: str | None = None
) -> list[DispatchResult]:
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
            id=wid or f"scheduled-dispatch-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )


async def payloads(env: WorkflowEnvironment, workflow_id: str) -> list[bytes]:
    """Every payload a workflow's history holds: its input, its activities' inputs and
    results, its children's inputs."""
    found: list[bytes] = []
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            found += [p.data for p in e.workflow_execution_started_event_attributes.input.payloads]
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found += [p.data for p in e.activity_task_scheduled_event_attributes.input.payloads]
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            found += [p.data for p in e.activity_task_completed_event_attributes.result.payloads]
        elif e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            attrs = e.start_child_workflow_execution_initiated_event_attributes
            found += [p.data for p in attrs.input.payloads]
    return found


async def test_the_daily_dispatch_catches_up_the_last_two_months(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    latest, before, older = months_before(await env.get_current_time(), "Asia/Seoul", 3)
    s = StandIns({latest, before, older})
    results = await daily_dispatch(env, s)
    assert CATCH_UP_MONTHS == 2
    assert results == [
        DispatchResult(month=latest, started=10),
        DispatchResult(month=before, started=10),
    ]
    assert sorted(a.month for a in s.asked) == sorted([latest, before])  # not `older`
    assert all(a.only_overdue and a.members is None for a in s.asked)


async def test_the_daily_dispatch_starts_a_reservation_whose_own_dispatch_failed(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """Its child dispatch names the reservation's row, and the list is nowhere in either
    history (the activity's result became the child's input with the list in it until
    2026-12-03); each range's start reads its own members of the list."""
    env = time_skipping_env
    latest, before = months_before(await env.get_current_time(), "Asia/Seoul", 2)
    send_at = "2030-01-05T10:00:00+09:00"
    # members no other number in the histories could be mistaken for
    members = [3, 70_001, 70_002, 123_456]
    s = StandIns({latest, before}, {7: (before, members, send_at)})
    s.last_member = 200_000  # four member ranges of 50,000
    wid = f"scheduled-dispatch-{uuid.uuid4().hex[:6]}"
    results = await daily_dispatch(env, s, wid)
    assert results[-1] == DispatchResult(month=before, started=len(members))
    reserved = [a for a in s.asked if a.reserved_at]
    assert reserved and all(
        (a.month, a.members, a.reserved_at, a.member_list, a.only_overdue)
        == (before, None, send_at, MemberListRef(kind=RESERVATION, id=7), False)
        for a in reserved
    )
    assert sorted(s.started) == members and s.dispatched == [7]
    child = f"{wid}/reserve-7"
    given = json.loads((await payloads(env, child))[0])
    assert given["members"] is None
    assert given["member_list"] == {"kind": RESERVATION, "id": 7}
    assert given["reserved_at"] == send_at
    for data in [*await payloads(env, wid), *await payloads(env, child)]:
        assert not any(str(m).encode() in data for m in members[1:]), data
    # the new path (its patch marker, the other activity) replays as it ran
    history = await env.client.get_workflow_handle(wid).fetch_history()
    replayed = await Replayer(
        workflows=[ScheduledDispatchWorkflow, DispatchWorkflow]
    ).replay_workflow(history)
    assert replayed.replay_failure is None


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
            DispatchInput(
                month="2026-11",
                members=[3, 4, 9],
                reserved_at="2030-01-05T10:00:00+09:00",
                range_size=5,
            ),
            id=f"dispatch-{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
    assert sorted((a.first_member_id, a.members) for a in s.asked) == [(1, [3, 4]), (6, [9])]
