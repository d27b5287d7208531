"""The Temporal Schedules: the monthly settlement (day 1) and the daily catch-up dispatch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telebill.errors import TelebillError

if TYPE_CHECKING:
    from temporalio.client import Client, Schedule

    from telebill.service.deps import Deps

SCHEDULE_ID = "telebill-monthly-settlement"
DISPATCH_SCHEDULE_ID = "telebill-daily-dispatch"


@dataclass(frozen=True)
class Installed:
    settle_at: str  # HH:MM on day 1
    dispatch_at: str  # HH:MM every day
    time_zone: str
    settlement: str  # created or updated
    dispatch: str


async def _upsert(client: Client, schedule_id: str, schedule: Schedule) -> str:
    from temporalio.client import ScheduleAlreadyRunningError, ScheduleUpdate, ScheduleUpdateInput

    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        return "updated"


def _checked(at: str | None, dispatch_at: str | None, zone: str | None, deps: Deps) -> Installed:
    from telebill.domain.send_window import parse_hhmm

    s = deps.settings
    at, dispatch_at, zone = (
        at or s.settle_schedule_time,
        dispatch_at or s.dispatch_schedule_time,
        zone or s.schedule_time_zone,
    )
    for option, text in (("--at", at), ("--dispatch-at", dispatch_at)):
        try:
            parse_hhmm(text)
        except ValueError:
            raise TelebillError(f"{option} must be HH:MM (00:00–23:59), got {text!r}") from None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TelebillError(f"unknown time zone {zone!r}") from None
    return Installed(at, dispatch_at, zone, "", "")


async def daily_dispatch_running(client: Client) -> bool:
    """Whether the daily dispatch Schedule is installed and not paused: without it a bill
    planned beyond the start horizon never has its workflow started."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        described = await client.get_schedule_handle(DISPATCH_SCHEDULE_ID).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return not described.schedule.state.paused


async def install(
    deps: Deps, at: str | None = None, dispatch_at: str | None = None, zone: str | None = None
) -> Installed:
    """Create or update both Schedules (defaults from the settings: day 1 at 02:00 and every
    day at 09:00, Asia/Seoul)."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleCalendarSpec,
        ScheduleRange,
        ScheduleSpec,
    )

    from telebill.domain.send_window import parse_hhmm
    from workflows.notification import ScheduledDispatchWorkflow
    from workflows.settlement import ScheduledSettlementInput, ScheduledSettlementWorkflow

    chosen = _checked(at, dispatch_at, zone, deps)
    s = deps.settings
    settle_time: time = parse_hhmm(chosen.settle_at)
    dispatch_time: time = parse_hhmm(chosen.dispatch_at)

    def spec(hhmm: time, comment: str, day: int | None = None) -> ScheduleSpec:
        return ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(day)] if day else [ScheduleRange(1, 31)],
                    hour=[ScheduleRange(hhmm.hour)],
                    minute=[ScheduleRange(hhmm.minute)],
                    comment=comment,
                )
            ],
            time_zone_name=chosen.time_zone,
        )

    monthly = Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledSettlementWorkflow.run,
            ScheduledSettlementInput(
                time_zone=chosen.time_zone, dispatch_queue=s.dispatch_task_queue
            ),
            id="scheduled-settlement",
            task_queue=s.settlement_task_queue,
            execution_timeout=timedelta(days=7),
        ),
        spec=spec(settle_time, "previous month's settlement", day=1),
    )
    daily = Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledDispatchWorkflow.run,
            chosen.time_zone,
            id="scheduled-dispatch",
            task_queue=s.dispatch_task_queue,
            execution_timeout=timedelta(hours=20),
        ),
        spec=spec(dispatch_time, "catch-up: every due bill has its notification workflow"),
    )
    client = await deps.temporal()
    return Installed(
        chosen.settle_at,
        chosen.dispatch_at,
        chosen.time_zone,
        await _upsert(client, SCHEDULE_ID, monthly),
        await _upsert(client, DISPATCH_SCHEDULE_ID, daily),
    )
