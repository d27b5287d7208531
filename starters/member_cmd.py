"""`telebill member show | update | limit`: a member's delivery preferences and micro-payment
limit."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starters.common import Json, MemberId, console, with_db
from starters.errors import UserError
from starters.notify_common import signal_all
from telebill.config import get_settings

if TYPE_CHECKING:
    import asyncpg

    from telebill.db.notify_store import Waiting


member = typer.Typer(
    help="A member's delivery preferences and micro-payment limit.", no_args_is_help=True
)


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
        f"  preferred day {m.preferred_day}, quiet hours {m.quiet_label}, time zone {m.timezone}\n"
        f"  micro-payment limit {m.micro_payment_limit_krw:,}원 a month",
        highlight=False,
    )


@member.command("limit")
def member_limit(
    member_id: MemberId,
    micro_payments: Annotated[
        int,
        typer.Option(
            "--micro-payments",
            help="Monthly micro-payment limit (소액결제 한도) in won, 0 (blocked) to 1,000,000.",
        ),
    ],
) -> None:
    """Set the member's micro-payment limit; a month whose micro-payments exceed it is refused
    by the settlement (recorded in settlement_error) instead of billed."""
    from telebill.db.member_store import set_micro_limit

    m = with_db(lambda conn: set_micro_limit(conn, member_id, micro_payments))
    console.print(
        f"member {m.id}: micro-payment limit {m.micro_payment_limit_krw:,}원 a month, from the "
        "next settlement on",
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

    async def work(conn: asyncpg.Connection) -> tuple[Any, list[Waiting]]:
        async with conn.transaction():
            saved = await update_member(
                conn, member_id, zone, preferred_day, hours, no_quiet, timezone
            )
        return saved, await waiting_workflows(conn, member_ids=[member_id])

    m, waiting = with_db(work)
    try:
        told = asyncio.run(signal_all(waiting, "preferences_changed", None)) if waiting else 0
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
