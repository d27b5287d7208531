"""`telebill schedules`: the Temporal Schedules of the monthly settlement and the daily
dispatch."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from starters.common import call
from telebill.service import schedules as service
from telebill.service.schedules import DISPATCH_SCHEDULE_ID, SCHEDULE_ID

console = Console()
schedules = typer.Typer(
    help="Temporal Schedules (the monthly settlement, the daily dispatch).", no_args_is_help=True
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
    done = call(lambda deps: service.install(deps, at, dispatch_at, time_zone))
    zone = done.time_zone
    console.print(
        f"schedule {SCHEDULE_ID} {done.settlement}: day 1 at {done.settle_at} {zone} settles the "
        f"previous month\nschedule {DISPATCH_SCHEDULE_ID} {done.dispatch}: every day at "
        f"{done.dispatch_at} {zone} makes sure each due bill has its notification workflow "
        "(Temporal UI → Schedules)",
        highlight=False,
    )
