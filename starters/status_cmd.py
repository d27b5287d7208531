"""`telebill status | stuck`: how a month's notifications stand, in PostgreSQL and Temporal."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from starters.common import Json, Month, call, checked_month, console, progress_bar
from telebill.domain.statuses import (
    DELIVERED_PREFIX,
    NotifyStatus,
    delivered_status,
    is_delivered,
)
from telebill.service import month as service

if TYPE_CHECKING:
    from telebill.db.month_views import MonthStatus
    from telebill.service.deps import Deps


def stuck(month: Month, as_json: Json = False) -> None:
    """Bills whose notification is STUCK (no outcome in time), with their last error."""
    month = checked_month(month)
    rows = call(lambda deps: service.every_stuck(deps, month))
    if as_json:
        print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        console.print(f"no STUCK notification in {month}")
        return
    table = Table("workflow", "member", "last error")
    for r in rows:
        table.add_row(r.workflow_id, str(r.member), r.last_error or "-")
    console.print(table)


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
    view = call(lambda deps: service.status(deps, month))
    db, temporal = view.db, view.temporal
    if as_json:
        print(json.dumps(view.as_dict(), default=str, indent=2))
        return
    table = Table(title=f"Notifications of {month}", show_header=True)
    table.add_column("")
    table.add_column("PostgreSQL", justify="right")
    table.add_column("Temporal NotifyStatus", justify="right")
    for row in status_rows(db, temporal):
        table.add_row(*row)
    console.print(table)
    if db.next_send_at is not None:
        console.print(
            f"{db.scheduled:,} scheduled for later (preferred day, quiet hours or a blackout "
            f"window); the next at {db.next_send_at.isoformat()}",
            highlight=False,
        )
    if temporal is None:
        console.print("(Temporal did not answer: its column is empty)")
    for warning in view.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)


def status_rows(db: MonthStatus, temporal: dict[str, int] | None) -> list[tuple[str, str, str]]:
    """The table's rows: label, PostgreSQL's count, Temporal's (empty when it did not answer
    or has no such status). A channel besides e-mail and SMS gets a row of its own under
    "another channel", whose Temporal count is the sum of those channels' statuses."""
    t = temporal or {}
    d = asdict(db)
    own = (delivered_status("email"), delivered_status("sms"))
    other_statuses = tuple(s for s in t if is_delivered(s) and s not in own)
    others = sorted(
        {c for c in db.delivered_by if c not in ("email", "sms")}
        | {s.removeprefix(DELIVERED_PREFIX).lower() for s in other_statuses if t[s]}
    )
    rows = []
    for label, key, tkey in (
        ("bills settled", "bills", None),
        ("not scheduled yet", "not_scheduled", None),
        ("scheduled", "scheduled", NotifyStatus.SCHEDULED),
        ("  of which planned, workflow started near the day", "workflow_later", None),
        ("published", "published", NotifyStatus.PUBLISHED),
        ("  of which deferred by a window", "deferred", None),
        ("delivered by e-mail", "delivered_email", delivered_status("email")),
        ("delivered by SMS", "delivered_sms", delivered_status("sms")),
        ("delivered by another channel", "delivered_other", other_statuses),
        ("dead letters", "dead_letter", NotifyStatus.DEAD_LETTER),
        ("stuck", None, NotifyStatus.STUCK),
        ("no time to send (windows cover a day)", "no_time_to_send", NotifyStatus.NO_SEND_WINDOW),
    ):
        tkeys = (tkey,) if isinstance(tkey, str) else tkey or ()
        counted = [t[k] for k in tkeys if k in t]
        rows.append((label, f"{d[key]:,}" if key else "", f"{sum(counted):,}" if counted else ""))
        if key == "delivered_other":
            for channel in others:
                status = delivered_status(channel)
                rows.append(
                    (
                        f"  of which {channel}",
                        f"{db.delivered_by.get(channel, 0):,}",
                        f"{t[status]:,}" if status in t else "",
                    )
                )
    return rows


def _follow(month: str) -> None:
    async def watch(deps: Deps) -> None:
        progress = progress_bar()
        task = progress.add_task(f"delivering {month}", total=None)
        with progress:
            while True:
                s = await service.db_status(deps, month)
                progress.update(
                    task,
                    total=s.bills or None,
                    completed=s.settled,
                    description=f"{month}: {s.delivered_email:,} e-mail, {s.delivered_sms:,} SMS, "
                    f"{s.delivered_other:,} by other channels, "
                    f"{s.dead_letter:,} dead, {s.published:,} in flight, {s.due:,} due",
                )
                if s.bills and s.caught_up:
                    return
                await asyncio.sleep(1.0)

    call(watch)
