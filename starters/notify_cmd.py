"""Bill notifications: `telebill dispatch | resend | notify plan | notify replan`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from starters.common import Json, MemberId, Members, Month, call, checked_month, console
from telebill import clock
from telebill.config import get_settings
from telebill.service import notify as service


def dispatch(
    month: Month,
    members: Members = None,
    now: Annotated[
        bool, typer.Option("--now", help="Send now (windows permitting), not on the preferred day.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the count.")] = True,
) -> None:
    """Make sure every undelivered bill of the month has its notification workflow (what the
    daily Schedule does). With --now, the admin's "send now": at the next allowed instant."""
    month = checked_month(month)
    start = service.send_now if now else service.catch_up
    started = call(lambda deps: start(deps, month, members))
    console.print(f"dispatch {started.workflow_id} started", highlight=False)
    if wait:
        n = call(lambda deps: service.dispatched_count(deps, started.workflow_id))
        console.print(
            f"{n:,} notification workflow(s) started or signalled for {month}", highlight=False
        )


def resend(
    bill: Annotated[int, typer.Option("--bill", help="Bill id.")],
    channel: Annotated[
        str, typer.Option(help="Start at this channel's chain: email, sms, or one configured.")
    ] = "email",
) -> None:
    """Admin resend: a new notification of this bill (recorded as RESEND-n), sent at the next
    instant outside blackout windows and quiet hours."""
    r = call(lambda deps: service.resend(deps, bill, channel))
    console.print(
        f"resend {r.purpose} of bill {bill} by {r.channel}: workflow {r.workflow_id}",
        highlight=False,
    )


notify = typer.Typer(help="When bills are sent.", no_args_is_help=True)


@notify.command("plan")
def notify_plan(member_id: MemberId, month: Month, as_json: Json = False) -> None:
    """When this member's bill of the month is sent, and why then (a what-if when the month is
    not settled yet)."""
    plan = call(lambda deps: service.send_plan(deps, member_id, month))
    if as_json:
        print(json.dumps(plan, ensure_ascii=False, indent=2))
        return
    console.print(
        f"member {member_id}, {plan['month']}: {plan['send_at_member_local']} member time "
        f"({plan['send_at']})\n  why: {plan['why']}\n  bill {plan['bill'] or '-'}, "
        f"{plan['notification_status']}",
        highlight=False,
    )


@notify.command("replan")
def notify_replan(month: Month) -> None:
    """Every notification of the month still waiting to send plans again now, by this
    installation's clock. Run it after TELEBILL_CLOCK_OFFSET_S changed (the processes were
    restarted with the new offset; sleeping workflows keep the one they started with until
    told), or after blackout windows changed (a change of windows wakes nobody by itself)."""
    settings = get_settings()
    month = checked_month(month)
    done = call(lambda deps: service.replan(deps, month))
    console.print(
        f"{done.told:,} waiting notification(s) of {month} re-planned by the clock "
        f"{clock.now(settings):%Y-%m-%d %H:%M:%S %Z}"
        + (f" (offset {settings.clock_offset_s:+,.0f} s)" if settings.clock_offset_s else "")
        + f"; dispatch {done.dispatch.workflow_id} starts those now near their instant",
        highlight=False,
    )
