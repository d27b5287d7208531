"""Bill notifications: `telebill dispatch | reserve | member | resend | notify plan | stuck |
status`."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from starters.db_cmd import using_db, with_db
from starters.errors import UserError
from starters.settle_cmd import Month, checked_month, temporal_client
from telebill import clock
from telebill.config import get_settings
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

    from telebill.db.notify_store import MonthStatus

console = Console()
Members = Annotated[
    list[int] | None, typer.Option("--member", help="Member id (repeatable); default: all.")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
NOTIFY_STATUSES = (
    "SCHEDULED",
    "PUBLISHED",
    "DELIVERED_EMAIL",
    "DELIVERED_SMS",
    "DEAD_LETTER",
    "STUCK",
    "NO_SEND_WINDOW",
)


def parse_instant(text: str) -> datetime:
    """An ISO date-time; without an offset it is read in the system time zone."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--at must be an ISO date-time like 2026-12-05T10:00, got {text!r}"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(get_settings().system_time_zone))
    return at


async def _dispatch(
    month: str, members: list[int] | None, reserved_at: datetime | None, wait: bool, tag: str
) -> None:
    from temporalio.common import WorkflowIDConflictPolicy

    from workflows.notification import DispatchInput, DispatchWorkflow

    settings = get_settings()
    client = await temporal_client(settings)
    stamp = clock.now(settings).strftime("%Y%m%dT%H%M%S")
    handle = await client.start_workflow(
        DispatchWorkflow.run,
        DispatchInput(
            month=month,
            members=members,
            reserved_at=reserved_at.isoformat() if reserved_at else None,
            time_zone=settings.schedule_time_zone,
        ),
        id=f"dispatch-{month}-{tag}-{stamp}",
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    console.print(f"dispatch {handle.id} started", highlight=False)
    if wait:
        result = await handle.result()
        console.print(
            f"{result.started:,} notification workflow(s) started or signalled for {result.month}",
            highlight=False,
        )


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
    asyncio.run(_dispatch(month, members, at, wait, "now" if now else "catch-up"))


reserve = typer.Typer(
    help="Reserved sends (예약 발송): send a month's bills, or some members', at a chosen time.",
    invoke_without_command=True,
)


@reserve.callback()
def reserve_add(
    ctx: typer.Context,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO date-time (system zone if none).")
    ] = None,
    month: Annotated[str | None, typer.Option("--month", "-m", help="Billing month.")] = None,
    members: Members = None,
) -> None:
    """`telebill reserve --at 2026-12-05T10:00 --month 2026-11 [--member ID …]` reserves a send;
    the time replaces the preferred day, blackout windows and quiet hours still apply. A past
    instant or an unknown member is refused. When Temporal cannot be reached the reservation
    is kept (RESERVED, with the reason) and the daily dispatch starts it."""
    from telebill.db.reservation_store import add_reservation, mark_dispatch_failed, mark_dispatched

    if ctx.invoked_subcommand is not None:
        return
    if at is None or month is None:
        raise UserError("say when and which month: --at <ISO date-time> --month YYYY-MM")
    when, month = parse_instant(at), checked_month(month)
    now = clock.now(get_settings())
    rid = with_db(lambda conn: add_reservation(conn, when, parse_month(month), members, now))
    try:
        asyncio.run(_dispatch(month, members, when, True, f"reserve-{rid}"))
    except Exception as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        with_db(lambda conn: mark_dispatch_failed(conn, rid, why))
        raise UserError(
            f"reservation {rid} is kept, but its dispatch failed ({why}); the daily dispatch "
            "starts it, or run the same reserve again once Temporal answers"
        ) from None
    with_db(lambda conn: mark_dispatched(conn, rid))
    console.print(f"reservation {rid}: {month} at {when.isoformat()}", highlight=False)


@reserve.command("list")
def reserve_list(as_json: Json = False) -> None:
    """Reservations, newest first (a RESERVED one has not been dispatched yet: see its error)."""
    from telebill.db.reservation_store import list_reservations

    rows = with_db(list_reservations)
    if as_json:
        print(json.dumps([asdict(r) for r in rows], default=str, indent=2))
        return
    table = Table("id", "send at", "month", "members", "status", "last error")
    for r in rows:
        who = ", ".join(map(str, r.member_ids)) if r.member_ids else "all"
        table.add_row(
            str(r.id),
            r.send_at.isoformat(),
            f"{r.billing_month:%Y-%m}",
            who,
            r.status,
            r.last_error or "",
        )
    console.print(table)


@reserve.command("cancel")
def reserve_cancel(
    reservation: Annotated[int, typer.Option("--id", help="Reservation id.")],
) -> None:
    """Cancel a reservation: its bills go back to their preferred day."""
    from telebill.db.notify_store import waiting_workflows
    from telebill.db.reservation_store import cancel_reservation

    async def work(conn: asyncpg.Connection) -> list[str]:
        r = await cancel_reservation(conn, reservation)
        return await waiting_workflows(conn, r.billing_month, r.member_ids)

    ids = with_db(work)
    told = asyncio.run(_signal_all(ids, "reserve", None))
    console.print(
        f"reservation {reservation} cancelled; {told} waiting notification(s) re-planned",
        highlight=False,
    )


async def _signal_all(workflow_ids: list[str], signal: str, arg: Any) -> int:
    from temporalio.service import RPCError, RPCStatusCode

    if not workflow_ids:
        return 0
    client = await temporal_client(get_settings())
    gate = asyncio.Semaphore(50)

    async def one(wid: str) -> bool:
        async with gate:
            try:
                await client.get_workflow_handle(wid).signal(signal, arg)
                return True
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False  # finished meanwhile
                raise

    return sum(await asyncio.gather(*(one(w) for w in workflow_ids)))


member = typer.Typer(help="A member's delivery preferences.", no_args_is_help=True)
MemberId = Annotated[int, typer.Option("--member", help="Member id.")]


@member.command("show")
def member_show(member_id: MemberId, as_json: Json = False) -> None:
    """Name, addresses, preferred day, quiet hours and time zone."""
    from telebill.db.member_store import get_member

    m = with_db(lambda conn: get_member(conn, member_id))
    if as_json:
        print(json.dumps(asdict(m), default=str, ensure_ascii=False, indent=2))
        return
    console.print(
        f"member {m.id}: {m.name} <{m.email}> {m.phone}\n"
        f"  preferred day {m.preferred_day}, quiet hours {m.quiet_label}, time zone {m.timezone}",
        highlight=False,
    )


@member.command("update")
def member_update(
    member_id: MemberId,
    preferred_day: Annotated[
        int | None, typer.Option("--preferred-day", help="Day of month 1–31 (31: last day).")
    ] = None,
    quiet: Annotated[
        str | None, typer.Option("--quiet", help="Quiet hours HH:MM-HH:MM, member's local time.")
    ] = None,
    no_quiet: Annotated[bool, typer.Option("--no-quiet", help="No quiet hours.")] = False,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA time zone.")] = None,
) -> None:
    """Change preferences (validated); the member's waiting notifications re-plan at once."""
    from telebill.db.member_store import parse_quiet, update_member
    from telebill.db.notify_store import waiting_workflows

    if quiet and no_quiet:
        raise UserError("--quiet and --no-quiet exclude each other")
    if preferred_day is None and quiet is None and not no_quiet and timezone is None:
        raise UserError(
            "nothing to change: give --preferred-day, --quiet, --no-quiet or --timezone"
        )
    hours = parse_quiet(quiet) if quiet else None
    zone = get_settings().system_time_zone

    async def work(conn: asyncpg.Connection) -> tuple[Any, list[str]]:
        async with conn.transaction():
            saved = await update_member(
                conn, member_id, zone, preferred_day, hours, no_quiet, timezone
            )
        return saved, await waiting_workflows(conn, member_ids=[member_id])

    m, waiting = with_db(work)
    try:
        told = asyncio.run(_signal_all(waiting, "preferences_changed", None)) if waiting else 0
    except Exception as exc:  # saved either way: say so, and what the waiting ones will do
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(
            f"member {m.id} saved, but its {len(waiting)} waiting notification(s) were not told "
            f"({why}); each re-plans with the new preferences when it wakes at its planned "
            "instant, or run this update again to tell them now"
        ) from None
    console.print(
        f"member {m.id}: preferred day {m.preferred_day}, quiet hours {m.quiet_label}, "
        f"time zone {m.timezone}; {told} waiting notification(s) re-planned",
        highlight=False,
    )


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
    from activities.notification import initial_search_attributes, notify_input, notify_workflow_id
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


def stuck(month: Month, as_json: Json = False) -> None:
    """Bills whose notification is STUCK (no outcome in time), with their last error."""
    from telebill.db.notify_store import last_errors
    from workflows.notification import MEMBER_ID

    month = checked_month(month)

    async def work() -> list[dict[str, Any]]:
        client = await temporal_client(get_settings())
        found: list[tuple[str, int]] = []
        query = f'{month_query(month)} AND NotifyStatus="STUCK" AND ExecutionStatus="Running"'
        async for wf in client.list_workflows(query):
            found.append((wf.id, int(wf.typed_search_attributes.get(MEMBER_ID) or 0)))
        errors = await using_db(
            lambda conn: last_errors(conn, parse_month(month), [m for _, m in found])
        )
        return [{"workflow_id": w, "member": m, "last_error": errors.get(m)} for w, m in found]

    rows = asyncio.run(work())
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print(f"no STUCK notification in {month}")
        return
    table = Table("workflow", "member", "last error")
    for r in rows:
        table.add_row(r["workflow_id"], str(r["member"]), r["last_error"] or "-")
    console.print(table)


def month_query(month: str) -> str:
    """This installation's notification workflows of a month (its task queue tells them apart)."""
    return f'BillingMonth="{month}" AND TaskQueue="{get_settings().task_queue}"'


async def temporal_counts(client: Client, month: str) -> dict[str, int]:
    counts = {}
    for status in NOTIFY_STATUSES:
        result = await client.count_workflows(f'{month_query(month)} AND NotifyStatus="{status}"')
        counts[status] = result.count
    return counts


def status(
    month: Month,
    as_json: Json = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Show progress until every bill that is due has an outcome."
        ),
    ] = False,
) -> None:
    """A live view of a month: settled, scheduled, published, delivered by channel, dead letters
    (PostgreSQL), next to the workflows' NotifyStatus counts (Temporal)."""
    month = checked_month(month)
    if follow:
        _follow(month)
    db, temporal = asyncio.run(_status(month))
    if as_json:
        print(json.dumps({"postgresql": asdict(db), "temporal": temporal}, default=str, indent=2))
        return
    table = Table(title=f"Notifications of {month}", show_header=True)
    table.add_column("")
    table.add_column("PostgreSQL", justify="right")
    table.add_column("Temporal NotifyStatus", justify="right")
    t = temporal or {}
    d = asdict(db)
    for label, key, tkey in (
        ("bills settled", "bills", None),
        ("not scheduled yet", "not_scheduled", None),
        ("scheduled", "scheduled", "SCHEDULED"),
        ("published", "published", "PUBLISHED"),
        ("  of which deferred by a window", "deferred", None),
        ("delivered by e-mail", "delivered_email", "DELIVERED_EMAIL"),
        ("delivered by SMS", "delivered_sms", "DELIVERED_SMS"),
        ("dead letters", "dead_letter", "DEAD_LETTER"),
        ("stuck", None, "STUCK"),
        ("no time to send (windows cover a day)", "no_time_to_send", "NO_SEND_WINDOW"),
    ):
        table.add_row(
            label,
            f"{d[key]:,}" if key else "",
            f"{t[tkey]:,}" if tkey and tkey in t else "",
        )
    console.print(table)
    if db.next_send_at is not None:
        console.print(
            f"{db.scheduled:,} scheduled for later (preferred day, quiet hours or a blackout "
            f"window); the next at {db.next_send_at.isoformat()}",
            highlight=False,
        )
    if temporal is None:
        console.print("(Temporal did not answer: its column is empty)")


async def _db_status(month: str) -> MonthStatus:
    from telebill.db.notify_store import month_status

    now = clock.now(get_settings())
    return await using_db(lambda conn: month_status(conn, parse_month(month), now))


async def _status(month: str) -> tuple[MonthStatus, dict[str, int] | None]:
    db = await _db_status(month)
    try:
        temporal = await temporal_counts(await temporal_client(get_settings()), month)
    except UserError:
        temporal = None
    return db, temporal


def _follow(month: str) -> None:
    from starters.seed_cmd import progress_bar

    async def watch() -> None:
        progress = progress_bar()
        task = progress.add_task(f"delivering {month}", total=None)
        with progress:
            while True:
                s = await _db_status(month)
                progress.update(
                    task,
                    total=s.bills or None,
                    completed=s.settled,
                    description=f"{month}: {s.delivered_email:,} e-mail, {s.delivered_sms:,} SMS, "
                    f"{s.dead_letter:,} dead, {s.published:,} in flight, {s.due:,} due",
                )
                if s.bills and s.caught_up:
                    return
                await asyncio.sleep(1.0)

    asyncio.run(watch())
