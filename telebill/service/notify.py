"""Sending bills: the admin's "send now" and the catch-up dispatch, a resend of one bill, when a
member's bill goes out and why, and telling waiting notifications to plan again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from telebill import clock
from telebill.contracts.dispatch import DispatchInput, dispatch_id
from telebill.contracts.notification import (
    REPLAN_NOW,
    SEND_LIST,
    MemberListRef,
    notify_input,
    resend_workflow_id,
)
from telebill.db.blackout_store import blackout_windows
from telebill.db.member_store import get_member
from telebill.db.month_views import MONTHLY
from telebill.db.notify_store import (
    PlannedSend,
    bill_for,
    notification_status,
    waiting_workflows,
)
from telebill.domain.chain import parse_chains
from telebill.domain.month import parse_month
from telebill.domain.send_window import NoAllowedInstant, plan_send, quiet_hours
from telebill.domain.statuses import resend_purpose
from telebill.errors import NotFound, TelebillError
from telebill.notify_plans import plan_each
from telebill.service.ports import Stores

if TYPE_CHECKING:
    from telebill.config import Settings
    from telebill.db.connect import DbConn
    from telebill.db.notify_store import Waiting
    from telebill.service.deps import Deps


def checked_month(month: str) -> str:
    """'2026-11' as given, or the reason it is not a month."""
    try:
        return f"{parse_month(month):%Y-%m}"
    except ValueError as exc:
        raise TelebillError(str(exc)) from None


def parse_instant(text: str, system_zone: str, what: str = "--at") -> datetime:
    """An ISO date-time; without an offset it is read in the system time zone."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise TelebillError(
            f"{what} must be an ISO date-time like 2026-12-05T10:00, got {text!r}"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(system_zone))


# A listed send keeps its members in PostgreSQL (a reservation's row, or a `send_list` row for
# "send now") and its dispatch's input names the row, so Temporal's 2 MB payload limit no longer
# bounds it (it did before 2026-12, at 200,000). What bounds it now: one array in one row, and
# the members checked in one query; a million is more than a month of this installation.
MAX_LISTED_MEMBERS = 1_000_000


def checked_members(members: list[int] | None) -> list[int] | None:
    if members is not None and len(members) > MAX_LISTED_MEMBERS:
        raise TelebillError(
            f"{len(members):,} members listed; at most {MAX_LISTED_MEMBERS:,} at a time "
            "(split the list, or name none for the whole month)"
        )
    return members


@dataclass(frozen=True)
class DispatchStarted:
    workflow_id: str
    month: str


async def start_dispatch(
    deps: Deps,
    month: str,
    members: list[int] | None,
    reserved_at: datetime | None,
    tag: str,
    member_list: MemberListRef | None = None,
) -> DispatchStarted:
    """Start the dispatch that gives every undelivered bill of the month (or of these members)
    its notification workflow; with `reserved_at`, sent at that instant instead of the
    preferred day. Starting the same one again joins it. Listed members travel by reference:
    `member_list` where they are stored already (a reservation), else a `send_list` row kept
    here first."""
    s = deps.settings
    members = checked_members(members)
    if members is not None and member_list is None:
        async with deps.db() as conn:
            member_list = MemberListRef(
                kind=SEND_LIST,
                id=await deps.stores.reservations.add_send_list(conn, parse_month(month), members),
            )
    stamp = clock.now(s).strftime("%Y%m%dT%H%M%S")
    workflow_id = await (await deps.gateway()).start_dispatch(
        DispatchInput(
            month=month,
            reserved_at=reserved_at.isoformat() if reserved_at else None,
            time_zone=s.schedule_time_zone,
            member_list=member_list,
        ),
        dispatch_id(month, tag, stamp),
    )
    return DispatchStarted(workflow_id, month)


async def dispatched_count(deps: Deps, workflow_id: str) -> int:
    """Wait for a dispatch to end: how many notification workflows it started or signalled."""
    return (await (await deps.gateway()).dispatch_result(workflow_id)).started


async def send_now(deps: Deps, month: str, members: list[int] | None) -> DispatchStarted:
    """The admin's "send now" (관리자 즉시 발송): the month's bills, or these members', at the
    next instant outside blackout windows and quiet hours."""
    return await start_dispatch(
        deps, checked_month(month), members, clock.now(deps.settings), "now"
    )


async def catch_up(deps: Deps, month: str, members: list[int] | None) -> DispatchStarted:
    """What the daily Schedule does: every undelivered bill has its workflow."""
    return await start_dispatch(deps, checked_month(month), members, None, "catch-up")


# The memo key of a resend's channel (its workflow's input holds it too, but a memo is what
# describe() returns to a request that joined it).
RESEND_CHANNEL = "channel"


@dataclass(frozen=True)
class Resent:
    bill_id: int
    purpose: str  # RESEND-n
    channel: str
    workflow_id: str


async def resend(deps: Deps, bill_id: int, channel: str = "email") -> Resent:
    """A new notification of this bill (RESEND-n), at the next instant outside blackout windows
    and quiet hours, starting the chain at `channel`.

    Requests at the same moment (a double click, two operators) are one resend: n is the next
    number PostgreSQL does not have yet, so both name the same workflow id, and the start
    joins a run of it that is open (USE_EXISTING) or one that completed (its row was not
    counted yet); both callers are told that resend, its channel read from the workflow.
    Chosen over an id per request, which would send the member two messages for one intent.
    A failed or terminated RESEND-n is started again under its id. Once the first resend has
    planned (its row exists), a new request is RESEND-n+1, a resend of its own."""
    chains = parse_chains(deps.settings.channel_chains)
    if channel not in chains:
        known = ", ".join(sorted(chains))
        raise TelebillError(
            f"the channel must start one of the installation's chains ({known}), got {channel!r}"
        )
    async with deps.db() as conn:
        found = await deps.stores.notifications.bill_of(conn, bill_id)
        if found is None:
            raise NotFound(f"no bill {bill_id}")
        n = await deps.stores.notifications.resend_count(conn, bill_id) + 1
        member_id, month = found[0], f"{found[1]:%Y-%m}"
    s = deps.settings
    purpose = resend_purpose(n)
    # The channel of the resend that runs (another request's, when this one joined it, or the
    # completed one's: that resend is the answer).
    wid, started_at = await (await deps.gateway()).start_resend(
        notify_input(s, bill_id, member_id, month, purpose=purpose, channel=channel),
        resend_workflow_id(month, member_id, n, s.workflow_id_prefix),
        {RESEND_CHANNEL: channel},
    )
    return Resent(bill_id, purpose, str(started_at), wid)


async def send_plan(deps: Deps, member_id: int, month: str) -> dict[str, Any]:
    """When this member's bill of the month is sent and why then (a what-if when the month is
    not settled yet)."""
    month = checked_month(month)
    s = deps.settings
    async with deps.db() as conn:
        m = await get_member(conn, member_id)
        windows = await blackout_windows(conn, s.system_time_zone)
        if quiet := quiet_hours(m.quiet_start, m.quiet_end, m.timezone):
            windows.append(quiet)
        bill = await bill_for(conn, member_id, parse_month(month))
        status = await notification_status(conn, bill, MONTHLY) if bill else None
    now = clock.now(s)
    try:
        p = plan_send(parse_month(month), m.preferred_day, m.timezone, now, windows)
    except NoAllowedInstant as exc:
        raise TelebillError(str(exc)) from None
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


async def plan_again(
    conn: DbConn, settings: Settings, waiting: Sequence[Waiting], stores: Stores | None = None
) -> None:
    """Monthly bills planned whose workflow is not started yet: their instant planned again by
    the rules as they are now and recorded, so that the daily dispatch starts each in time
    even when its workflow cannot be told now. `stores`: the real ones unless given."""
    bills = [w.bill_id for w in waiting if w.workflow_id is None and w.purpose == MONTHLY]
    if not bills:
        return
    s = stores or Stores()
    windows = await s.blackouts.blackout_windows(conn, settings.system_time_zone)
    preferences = await s.notifications.load_preferences_of(conn, bills, MONTHLY)
    planned = plan_each(preferences, windows, clock.now(settings))
    plans = [PlannedSend(r.bill_id, None, plan.send_at) for r, plan in planned if plan]
    await s.notifications.record_plans(conn, MONTHLY, plans)


async def tell(deps: Deps, waiting: Sequence[Waiting], signal: str, arg: object) -> int:
    """Tell waiting notification workflows (Signal-With-Start: one whose delayed start has not
    come yet wakes to re-plan); how many were told."""
    if not waiting:
        return 0
    return await (await deps.gateway()).tell_waiting(waiting, signal, arg)


@dataclass(frozen=True)
class Replanned:
    told: int  # workflows told to plan again
    dispatch: DispatchStarted  # starts the bills whose instant the new clock brought near


async def replan(deps: Deps, month: str) -> Replanned:
    """Every notification of the month still waiting plans again now, by this installation's
    clock (after the clock offset or the blackout windows changed): the started workflows are
    told, and a catch-up dispatch starts those only planned whose instant is now near."""
    month = checked_month(month)
    async with deps.db() as conn:
        waiting = await waiting_workflows(conn, parse_month(month))
    told = await tell(deps, waiting, REPLAN_NOW, deps.settings.clock_offset_s)
    return Replanned(told, await catch_up(deps, month, None))
