"""The dispatch that makes sure each bill has its notification workflow.

DispatchWorkflow: starts the workflows a month's bills are missing (catch-up after an outage),
  the admin's "send now" and reserved sends, in member-range pages (bounded, resumable).
ScheduledDispatchWorkflow: the daily Schedule's run of it, and of reservations whose own
  dispatch failed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.notification import NotificationActivities
    from telebill.contracts.dispatch import (
        SCHEDULED_WORKFLOW,
        WORKFLOW,
        DispatchInput,
        DispatchResult,
    )
    from telebill.contracts.notification import (
        MemberListRef,
        MonthScope,
        ReservationRef,
        StartInput,
    )
    from telebill.domain.month import months_before, previous_month, shard_ranges

from workflows.activity_options import QUICK, RETRY, SHORT, START_HEARTBEAT
from workflows.schedule_time import SCHEDULED_INSTANT_PATCH, scheduled_instant

__all__ = ["DispatchInput", "DispatchResult"]


@workflow.defn(name=WORKFLOW)
class DispatchWorkflow:
    @workflow.run
    async def run(self, inp: DispatchInput) -> DispatchResult:
        month = inp.month or previous_month(workflow.now(), inp.time_zone)
        scope: MonthScope | None = await workflow.execute_activity_method(
            NotificationActivities.month_scope,
            month,
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        if scope is None:
            return DispatchResult(month=month, started=0)
        targeted = (
            inp.members is not None or inp.reserved_at is not None or inp.member_list is not None
        )
        ranges = shard_ranges(scope.first_member_id, scope.last_member_id, inp.range_size)
        counts = await start_in_ranges(
            month,
            ranges,
            inp.parallel,
            inp.members,
            inp.reserved_at,
            only_overdue=not targeted,
            member_list=inp.member_list,
        )
        return DispatchResult(month=month, started=counts)


async def start_in_ranges(
    month: str,
    ranges: list[tuple[int, int]],
    parallel: int,
    members: list[int] | None = None,
    reserved_at: str | None = None,
    only_overdue: bool = True,
    member_list: MemberListRef | None = None,
) -> int:
    """Run the start activity over member ranges, `parallel` at once (from a workflow)."""
    gate = asyncio.Semaphore(max(parallel, 1))

    async def one(lo: int, hi: int) -> int:
        # Each range gets only its own members: a "send now" naming 100,000 members put the
        # whole list in every range's input (10 MB of history, workflow tasks too slow to
        # finish: measured at 1M). Same activities and order; only their inputs shrink.
        mine = None if members is None else [m for m in members if lo <= m <= hi]
        async with gate:
            started: int = await workflow.execute_activity_method(
                NotificationActivities.start_range,
                StartInput(
                    month=month,
                    first_member_id=lo,
                    last_member_id=hi,
                    members=mine,
                    reserved_at=reserved_at,
                    only_overdue=only_overdue,
                    member_list=member_list,
                ),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=START_HEARTBEAT,
                retry_policy=RETRY,
            )
            return started

    return sum(await asyncio.gather(*(one(lo, hi) for lo, hi in ranges)))


# The month being sent and the one before it: a send instant late on a send month's last day
# that an outage makes pass is still caught up once the calendar has moved on.
CATCH_UP_MONTHS = 2
# Added 2026-11-26: the daily dispatch also starts reservations whose own dispatch failed.
RESERVATIONS_PATCH = "dispatch-undispatched-reservations"
# Added 2026-12-03: those reservations' members travel by reference (their row), not as a list.
RESERVATION_REFS_PATCH = "dispatch-reservations-by-reference"


def dispatch_months(time_zone: str) -> list[str]:
    """The months a daily run catches up, the latest first: those of the day the Schedule meant
    (a run caught up late does that day's work), and those of today when the run is late enough
    to have crossed a month (today's run may be skipped as an overlap of this one)."""
    now = workflow.now()
    if not workflow.patched(SCHEDULED_INSTANT_PATCH):  # a run from before 2026-12-03
        return months_before(now, time_zone, CATCH_UP_MONTHS)
    meant = months_before(scheduled_instant(), time_zone, CATCH_UP_MONTHS)
    return sorted({*meant, *months_before(now, time_zone, CATCH_UP_MONTHS)}, reverse=True)


@workflow.defn(name=SCHEDULED_WORKFLOW)
class ScheduledDispatchWorkflow:
    """Started by the daily Schedule: catch-up for the months before today, and reservations
    whose dispatch failed (Temporal was down when they were made)."""

    @workflow.run
    async def run(self, time_zone: str) -> list[DispatchResult]:
        results: list[DispatchResult] = []
        wid = workflow.info().workflow_id
        for month in dispatch_months(time_zone):
            results.append(
                await workflow.execute_child_workflow(
                    DispatchWorkflow.run,
                    DispatchInput(month=month, time_zone=time_zone),
                    id=f"{wid}/dispatch-{month}",
                )
            )
        if workflow.patched(RESERVATIONS_PATCH):
            # Runs recorded before 2026-12-03 asked for the lists themselves (their histories
            # hold that activity); a new run asks for references to the reservations' rows.
            by_reference = workflow.patched(RESERVATION_REFS_PATCH)
            pending: list[ReservationRef] = await workflow.execute_activity_method(
                NotificationActivities.undispatched_reservation_refs
                if by_reference
                else NotificationActivities.undispatched_reservations,
                start_to_close_timeout=SHORT,
                retry_policy=RETRY,
            )
            for r in pending:
                results.append(
                    await workflow.execute_child_workflow(
                        DispatchWorkflow.run,
                        DispatchInput(
                            month=r.month,
                            reserved_at=r.send_at,
                            time_zone=time_zone,
                            member_list=r.member_list,
                        )
                        if by_reference
                        else DispatchInput(
                            month=r.month,
                            members=r.members,
                            reserved_at=r.send_at,
                            time_zone=time_zone,
                        ),
                        id=f"{wid}/reserve-{r.id}",
                    )
                )
                await workflow.execute_activity_method(
                    NotificationActivities.reservation_dispatched,
                    r.id,
                    start_to_close_timeout=SHORT,
                    retry_policy=RETRY,
                )
        return results
