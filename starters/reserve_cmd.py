"""`telebill reserve`: reserved sends (예약 발송) of a month's bills, or some members'."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from starters.common import Json, Members, checked_month, console, with_db
from starters.errors import UserError
from starters.notify_common import parse_instant, signal_all, start_dispatch
from telebill import clock
from telebill.config import get_settings
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    import asyncpg

    from telebill.db.notify_store import Waiting


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
        asyncio.run(start_dispatch(month, members, when, True, f"reserve-{rid}"))
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

    async def work(conn: asyncpg.Connection) -> list[Waiting]:
        r = await cancel_reservation(conn, reservation)
        return await waiting_workflows(conn, r.billing_month, r.member_ids)

    ids = with_db(work)
    told = asyncio.run(signal_all(ids, "reserve", None))
    console.print(
        f"reservation {reservation} cancelled; {told} waiting notification(s) re-planned",
        highlight=False,
    )
