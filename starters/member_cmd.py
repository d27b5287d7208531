"""`telebill member show | update | limit`: a member's delivery preferences and micro-payment
limit."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from starters.common import Json, MemberId, call, console
from telebill.service import members as service

member = typer.Typer(
    help="A member's delivery preferences and micro-payment limit.", no_args_is_help=True
)


@member.command("show")
def member_show(member_id: MemberId, as_json: Json = False) -> None:
    """Name, addresses, preferred day, quiet hours and time zone."""
    m = call(lambda deps: service.member(deps, member_id))
    if as_json:
        print(json.dumps(asdict(m), default=str, ensure_ascii=False, indent=2))
        return
    console.print(
        f"member {m.id}: {m.name} <{m.email}> {m.phone}\n"
        f"  preferred day {m.preferred_day}, quiet hours {m.quiet_label}, time zone {m.timezone}\n"
        f"  micro-payment limit {m.micro_payment_limit_krw:,}원 a month\n"
        f"  bills by {m.bill_channel}{' (has the app)' if m.has_app else ''}",
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
    m = call(lambda deps: service.set_limit(deps, member_id, micro_payments))
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
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel",
            help="Where the bills start: email, sms, or a channel that starts one of the "
            "installation's chains (TELEBILL_CHANNEL_CHAINS), e.g. alimtalk or push.",
        ),
    ] = None,
) -> None:
    """Change preferences (validated); the member's waiting notifications re-plan at once."""
    saved = call(
        lambda deps: service.update_preferences(
            deps, member_id, preferred_day, quiet, no_quiet, timezone, channel
        )
    )
    m = saved.member
    console.print(
        f"member {m.id}: preferred day {m.preferred_day}, quiet hours {m.quiet_label}, "
        f"time zone {m.timezone}, bills by {m.bill_channel}; {saved.replanned} waiting "
        "notification(s) re-planned",
        highlight=False,
    )
