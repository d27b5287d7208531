"""`telebill reserve`: reserved sends (예약 발송) of a month's bills, or some members'."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from starters.common import Json, Members, call, console
from starters.errors import UserError
from telebill.config import get_settings
from telebill.service import reservations as service
from telebill.service.notify import parse_instant

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
    if ctx.invoked_subcommand is not None:
        return
    if at is None or month is None:
        raise UserError("say when and which month: --at <ISO date-time> --month YYYY-MM")
    when = parse_instant(at, get_settings().system_time_zone)
    r = call(lambda deps: service.reserve(deps, when, month, members))
    console.print(f"reservation {r.id}: {r.month} at {r.send_at.isoformat()}", highlight=False)


@reserve.command("list")
def reserve_list(as_json: Json = False) -> None:
    """Reservations, newest first (a RESERVED one has not been dispatched yet: see its error)."""
    rows = call(service.reservations)
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
    told = call(lambda deps: service.cancel(deps, reservation))
    console.print(
        f"reservation {reservation} cancelled; {told} waiting notification(s) re-planned",
        highlight=False,
    )
