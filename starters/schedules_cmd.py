"""`telebill schedules`: the Temporal Schedules of the monthly settlement and the daily
dispatch."""

from __future__ import annotations

import asyncio
from datetime import time, timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from starters.common import temporal_client
from starters.errors import UserError
from telebill.config import get_settings

if TYPE_CHECKING:
    from temporalio.client import Client, Schedule

console = Console()
SCHEDULE_ID = "telebill-monthly-settlement"
DISPATCH_SCHEDULE_ID = "telebill-daily-dispatch"


schedules = typer.Typer(
    help="Temporal Schedules (the monthly settlement, the daily dispatch).", no_args_is_help=True
)


async def _upsert_schedule(client: Client, schedule_id: str, schedule: Schedule) -> str:
    from temporalio.client import ScheduleAlreadyRunningError, ScheduleUpdate, ScheduleUpdateInput

    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
        return "updated"


async def _install_schedules(at: time, dispatch_at: time, time_zone: str) -> tuple[str, str]:
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleCalendarSpec,
        ScheduleRange,
        ScheduleSpec,
    )

    from workflows.notification import ScheduledDispatchWorkflow
    from workflows.settlement import ScheduledSettlementInput, ScheduledSettlementWorkflow

    settings = get_settings()
    monthly = Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledSettlementWorkflow.run,
            ScheduledSettlementInput(
                time_zone=time_zone, dispatch_queue=settings.dispatch_task_queue
            ),
            id="scheduled-settlement",
            task_queue=settings.settlement_task_queue,
            execution_timeout=timedelta(days=7),
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(at.hour)],
                    minute=[ScheduleRange(at.minute)],
                    comment="previous month's settlement",
                )
            ],
            time_zone_name=time_zone,
        ),
    )
    daily = Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledDispatchWorkflow.run,
            time_zone,
            id="scheduled-dispatch",
            task_queue=settings.dispatch_task_queue,
            execution_timeout=timedelta(hours=20),
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(dispatch_at.hour)],
                    minute=[ScheduleRange(dispatch_at.minute)],
                    comment="catch-up: every due bill has its notification workflow",
                )
            ],
            time_zone_name=time_zone,
        ),
    )
    client = await temporal_client(settings)
    return (
        await _upsert_schedule(client, SCHEDULE_ID, monthly),
        await _upsert_schedule(client, DISPATCH_SCHEDULE_ID, daily),
    )


@schedules.command("install")
def install(
    at: Annotated[str | None, typer.Option("--at", help="Local time HH:MM on day 1.")] = None,
    dispatch_at: Annotated[
        str | None, typer.Option("--dispatch-at", help="Local time HH:MM of the daily dispatch.")
    ] = None,
    time_zone: Annotated[str | None, typer.Option(help="IANA time zone of the times.")] = None,
) -> None:
    """Create or update the Schedules: the settlement of the previous month on day 1 (02:00) and
    the daily dispatch (09:00), Asia/Seoul unless told otherwise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from telebill.domain.send_window import parse_hhmm

    settings = get_settings()
    at = at or settings.settle_schedule_time
    dispatch_at = dispatch_at or settings.dispatch_schedule_time
    zone = time_zone or settings.schedule_time_zone
    times = []
    for option, text in (("--at", at), ("--dispatch-at", dispatch_at)):
        try:
            times.append(parse_hhmm(text))
        except ValueError:
            raise UserError(f"{option} must be HH:MM (00:00–23:59), got {text!r}") from None
    local_time, dispatch_time = times
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown time zone {zone!r}") from None
    monthly, daily = asyncio.run(_install_schedules(local_time, dispatch_time, zone))
    console.print(
        f"schedule {SCHEDULE_ID} {monthly}: day 1 at {at} {zone} settles the previous month\n"
        f"schedule {DISPATCH_SCHEDULE_ID} {daily}: every day at {dispatch_at} {zone} makes sure "
        "each due bill has its notification workflow (Temporal UI → Schedules)",
        highlight=False,
    )
