"""A member: delivery preferences, micro-payment limit, and bills page by page."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from telebill import clock
from telebill.contracts.notification import PREFERENCES_CHANGED
from telebill.db.archive_store import online_months
from telebill.db.member_store import get_member, parse_quiet, set_micro_limit
from telebill.db.notify_store import member_bills
from telebill.domain.chain import parse_chains
from telebill.domain.masking import mask_email, mask_name, mask_phone
from telebill.domain.month import format_month, month_of, next_month, parse_month, shift_month
from telebill.errors import TelebillError, Unavailable
from telebill.service.notify import checked_month, plan_again, tell

if TYPE_CHECKING:
    from telebill.db.member_store import MemberPrefs
    from telebill.db.notify_store import BillNotice
    from telebill.service.deps import Deps


async def member(deps: Deps, member_id: int) -> MemberPrefs:
    async with deps.db() as conn:
        return await deps.stores.members.get_member(conn, member_id)


def masked(m: MemberPrefs) -> MemberPrefs:
    """The member as a role without need of their contact data sees them."""
    return replace(m, name=mask_name(m.name), email=mask_email(m.email), phone=mask_phone(m.phone))


async def set_limit(deps: Deps, member_id: int, micro_payments_krw: int) -> MemberPrefs:
    """The monthly micro-payment limit (소액결제 한도), 0 (blocked) to 1,000,000원, from the
    next settlement on."""
    async with deps.db() as conn:
        return await set_micro_limit(conn, member_id, micro_payments_krw)


@dataclass(frozen=True)
class PreferencesSaved:
    member: MemberPrefs
    replanned: int  # waiting notifications told


async def update_preferences(
    deps: Deps,
    member_id: int,
    preferred_day: int | None = None,
    quiet: str | None = None,
    no_quiet: bool = False,
    timezone: str | None = None,
    channel: str | None = None,
) -> PreferencesSaved:
    """Change preferences (validated); the member's waiting notifications re-plan at once. When
    they cannot be told, the change is saved and `Unavailable` says what happens instead."""
    if quiet and no_quiet:
        raise TelebillError("quiet hours and no quiet hours exclude each other")
    if (preferred_day, quiet, timezone, channel) == (None, None, None, None) and not no_quiet:
        raise TelebillError(
            "nothing to change: give a preferred day, quiet hours, no quiet hours, a time zone "
            "or a bill channel"
        )
    if channel is not None:
        chains = parse_chains(deps.settings.channel_chains)
        if channel not in chains:
            raise TelebillError(
                f"unknown bill channel {channel!r}; this installation sends by "
                f"{', '.join(sorted(chains))} (TELEBILL_CHANNEL_CHAINS)"
            )
    hours = parse_quiet(quiet) if quiet else None
    async with deps.db() as conn:
        async with conn.transaction():
            saved = await deps.stores.members.update_member(
                conn,
                member_id,
                deps.settings.system_time_zone,
                preferred_day,
                hours,
                no_quiet,
                timezone,
                channel,
            )
        # those only planned too: their workflow starts now and plans by the new preferences
        waiting = await deps.stores.notifications.waiting_workflows(
            conn, member_ids=[member_id], unstarted=True
        )
        await plan_again(conn, deps.settings, waiting, deps.stores)
    try:
        told = await tell(deps, waiting, PREFERENCES_CHANGED, None)
    except Exception as exc:  # saved either way: say so, and what the waiting ones will do
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise Unavailable(
            f"member {saved.id} saved, but its {len(waiting)} waiting notification(s) were not "
            f"told ({why}); each re-plans with the new preferences when it wakes at its planned "
            "instant, or run this update again to tell them now"
        ) from None
    return PreferencesSaved(saved, told)


# A member's bills page: half a year (as carriers' own apps show), older months a page further.
# Its cost is a probe of each month's partitions: about 0.6 ms a month at 1M members with cold
# caches (bench.year --probe-only: six months 5.0 ms p95, twelve 11–24 ms).
MEMBER_PAGE_MONTHS = 6


@dataclass(frozen=True)
class MemberBills:
    """One page of a member's bills: the months from `since` up to `before` (excluded)."""

    bills: list[BillNotice]
    since: str
    before: str
    older: str | None  # the `before` of the next, older page; None: no older month online


async def bills(deps: Deps, member_id: int, before: str | None = None) -> MemberBills:
    """The member's bills of the six months before `before` (default: up to this month),
    with their notifications (NotFound for an unknown member)."""
    if before is None:
        end = next_month(month_of(clock.now(deps.settings), deps.settings.system_time_zone))
    else:
        end = parse_month(checked_month(before))
    since = shift_month(end, -MEMBER_PAGE_MONTHS)
    async with deps.db() as conn:
        await get_member(conn, member_id)
        found = await member_bills(conn, member_id, since, end)
        months = await online_months(conn)
    older = format_month(since) if months and months[0] < since else None
    return MemberBills(found, format_month(since), format_month(end), older)
