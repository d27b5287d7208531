"""`telebill schedules`: the Temporal Schedules of the monthly settlement and the daily
dispatch."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape

from starters.common import Json, call
from telebill.service import schedules as service
from telebill.service.schedules import DISPATCH_SCHEDULE_ID, RETENTION_SCHEDULE_ID, SCHEDULE_ID

console = Console()
schedules = typer.Typer(
    help="Temporal Schedules (the monthly settlement, the daily dispatch, the monthly retention).",
    no_args_is_help=True,
)


@schedules.command("install")
def install(
    at: Annotated[str | None, typer.Option("--at", help="Local time HH:MM on day 1.")] = None,
    dispatch_at: Annotated[
        str | None, typer.Option("--dispatch-at", help="Local time HH:MM of the daily dispatch.")
    ] = None,
    time_zone: Annotated[str | None, typer.Option(help="IANA time zone of the times.")] = None,
) -> None:
    """Create or update the Schedules: the settlement of the previous month on day 1 (02:00),
    the daily dispatch (09:00) and the retention on day 2 (TELEBILL_ARCHIVE_SCHEDULE_TIME,
    03:00), Asia/Seoul unless told otherwise."""
    done = call(lambda deps: service.install(deps, at, dispatch_at, time_zone))
    zone = done.time_zone
    console.print(
        f"schedule {SCHEDULE_ID} {done.settlement}: day 1 at {done.settle_at} {zone} settles the "
        f"previous month\nschedule {DISPATCH_SCHEDULE_ID} {done.dispatch}: every day at "
        f"{done.dispatch_at} {zone} makes sure each due bill has its notification workflow\n"
        f"schedule {RETENTION_SCHEDULE_ID} {done.retention}: day 2 at {done.archive_at} {zone} "
        "archives the months past TELEBILL_ARCHIVE_MONTHS_ONLINE "
        "(Temporal UI → Schedules; `telebill schedules status` shows their runs)",
        highlight=False,
    )


def _at(instant: datetime, zone: str) -> str:
    return f"{instant.astimezone(ZoneInfo(zone or 'UTC')):%Y-%m-%d %H:%M}"


def _window(seconds: float | None) -> str:
    if seconds is None:
        return "Temporal's default (1 year)"
    return f"{seconds / 86_400:g} day(s)" if seconds >= 86_400 else f"{seconds / 3600:g} h"


def say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


@schedules.command("status")
def status(as_json: Json = False) -> None:
    """Each Schedule: paused (and its note), its policies, its last runs with their outcome,
    its next runs, and the runs it missed (later than the catch-up window) or skipped."""
    views = call(service.status)
    if as_json:
        print(json.dumps([v.as_dict() for v in views], default=str, indent=2))
        return
    for v in views:
        if not v.installed:
            say(f"[bold]{v.schedule_id}[/]: [red]not installed[/] (`telebill schedules install`)")
            continue
        note = escape(v.note or "no note")
        state = f"[red]paused[/] ({note})" if v.paused else "[green]running[/]"
        say(
            f"[bold]{v.schedule_id}[/]: {state}; overlap {v.overlap}, catch-up window "
            f"{_window(v.catchup_window_s)}, pause on failure "
            f"{'yes' if v.pause_on_failure else 'no'}; times in {v.time_zone}"
        )
        for run in v.last_runs:
            late = run.started_at - run.scheduled_at
            started = (
                f" (started {_at(run.started_at, v.time_zone)})"
                if late.total_seconds() > 60
                else ""
            )
            say(
                f"  last  {_at(run.scheduled_at, v.time_zone)}{started}  {run.outcome:<10} "
                f"{run.workflow_id}"
            )
        if not v.last_runs:
            say("  last  none yet")
        for at in v.next_runs:
            say(f"  next  {_at(at, v.time_zone)}")
        missed = f"{v.missed_catchup_window} missed (later than the catch-up window)"
        say(
            f"  runs  {v.actions} started, {v.running} running, {missed}, "
            f"{v.skipped_overlap} skipped (overlap)"
        )
