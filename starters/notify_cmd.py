"""Bill notifications: `telebill dispatch | resend | notify plan`."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from starters.common import (
    Json,
    MemberId,
    Members,
    Month,
    checked_month,
    console,
    temporal_client,
    with_db,
)
from starters.errors import UserError
from starters.notify_common import signal_all, start_dispatch
from telebill import clock
from telebill.config import get_settings
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    import asyncpg

    from telebill.db.notify_store import Waiting


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
    at = clock.now(get_settings()) if now else None
    asyncio.run(start_dispatch(month, members, at, wait, "now" if now else "catch-up"))


def resend(
    bill: Annotated[int, typer.Option("--bill", help="Bill id.")],
    channel: Annotated[str, typer.Option(help="Start the chain at email or sms.")] = "email",
) -> None:
    """Admin resend: a new notification of this bill (recorded as RESEND-n), sent at the next
    instant outside blackout windows and quiet hours."""
    from telebill.db.notify_store import bill_of, resend_count

    if channel not in ("email", "sms"):
        raise UserError(f"--channel must be email or sms, got {channel!r}")

    async def work(conn: asyncpg.Connection) -> tuple[int, str, int]:
        found = await bill_of(conn, bill)
        if found is None:
            raise UserError(f"no bill {bill}")
        return found[0], f"{found[1]:%Y-%m}", await resend_count(conn, bill) + 1

    member_id, month, n = with_db(work)
    wid = asyncio.run(_start_resend(bill, member_id, month, n, channel))
    console.print(f"resend RESEND-{n} of bill {bill} by {channel}: workflow {wid}", highlight=False)


async def _start_resend(bill: int, member_id: int, month: str, n: int, channel: str) -> str:
    from activities.notify_starts import initial_search_attributes, notify_input, notify_workflow_id
    from workflows.notification import BillNotificationWorkflow

    settings = get_settings()
    client = await temporal_client(settings)
    handle = await client.start_workflow(
        BillNotificationWorkflow.run,
        notify_input(settings, bill, member_id, month, purpose=f"RESEND-{n}", channel=channel),
        id=f"{notify_workflow_id(month, member_id, settings.workflow_id_prefix)}-resend-{n}",
        task_queue=settings.task_queue,
        search_attributes=initial_search_attributes(month, member_id),
    )
    return handle.id


notify = typer.Typer(help="When bills are sent.", no_args_is_help=True)


@notify.command("plan")
def notify_plan(
    member_id: MemberId,
    month: Month,
    as_json: Json = False,
) -> None:
    """When this member's bill of the month is sent, and why then (a what-if when the month is
    not settled yet)."""
    from telebill.db.blackout_store import blackout_windows
    from telebill.db.member_store import get_member
    from telebill.db.notify_store import MONTHLY, bill_for, notification_status
    from telebill.domain.send_window import NoAllowedInstant, plan_send, quiet_hours

    month = checked_month(month)
    settings = get_settings()

    async def work(conn: asyncpg.Connection) -> dict[str, Any]:
        m = await get_member(conn, member_id)
        zone = settings.system_time_zone
        windows = await blackout_windows(conn, zone)
        if quiet := quiet_hours(m.quiet_start, m.quiet_end, m.timezone):
            windows.append(quiet)
        bill = await bill_for(conn, member_id, parse_month(month))
        status = await notification_status(conn, bill, MONTHLY) if bill else None
        now = clock.now(settings)
        try:
            p = plan_send(parse_month(month), m.preferred_day, m.timezone, now, windows)
        except NoAllowedInstant as exc:
            raise UserError(str(exc)) from None
        return {
            "member": member_id,
            "month": month,
            "bill": bill,
            "notification_status": status or ("not scheduled" if bill else "not settled"),
            "send_at": p.send_at.isoformat(),
            "send_at_member_local": p.send_at.astimezone(ZoneInfo(m.timezone)).isoformat(),
            "why": p.explain(),
            "planned_at": now.isoformat(),
        }

    plan = with_db(work)
    if as_json:
        print(json.dumps(plan, ensure_ascii=False, indent=2))
        return
    console.print(
        f"member {member_id}, {month}: {plan['send_at_member_local']} member time "
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
    from telebill.db.notify_store import waiting_workflows

    month = checked_month(month)
    settings = get_settings()

    async def work(conn: asyncpg.Connection) -> list[Waiting]:
        return await waiting_workflows(conn, parse_month(month))

    waiting = with_db(work)
    told = asyncio.run(signal_all(waiting, "replan_now", settings.clock_offset_s))
    console.print(
        f"{told:,} waiting notification(s) of {month} re-planned by the clock "
        f"{clock.now(settings):%Y-%m-%d %H:%M:%S %Z}"
        + (f" (offset {settings.clock_offset_s:+,.0f} s)" if settings.clock_offset_s else ""),
        highlight=False,
    )
