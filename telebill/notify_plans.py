"""A bill's send instant by the rules as they are now: its member's preferences (read a page of
bills at a time), the blackout windows and the member's quiet hours. Used by the notification
activities (when a workflow plans, and when a page of bills is started) and by the service
layer (planning again the bills whose workflow is not started yet)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from telebill.db.connect import DbConn
from telebill.db.month_views import MONTHLY
from telebill.db.notify_store import BillPreferences, load_preferences_of
from telebill.domain.send_window import NoAllowedInstant, Plan, Window, plan_send


def plan_bill(
    r: BillPreferences,
    windows: Sequence[Window],
    now: datetime,
    purpose: str = MONTHLY,
    reserved: datetime | None = None,
) -> Plan:
    """The send instant of this bill's notification (raises NoAllowedInstant)."""
    allowed = [*windows, r.quiet_hours] if r.quiet_hours else list(windows)
    if purpose != MONTHLY and reserved is None:
        reserved = now  # a resend goes now, windows permitting
    return plan_send(r.billing_month, r.preferred_day, r.timezone, now, allowed, reserved)


async def plan_monthly_bills(
    conn: DbConn,
    bill_ids: Sequence[int],
    windows: Sequence[Window],
    now: datetime,
    reserved: datetime | None = None,
) -> list[tuple[BillPreferences, Plan | None]]:
    """Each monthly bill with its plan, their preferences read in one query (None: no allowed
    instant; its workflow says why)."""
    return plan_each(await load_preferences_of(conn, bill_ids, MONTHLY), windows, now, reserved)


def plan_each(
    preferences: Sequence[BillPreferences],
    windows: Sequence[Window],
    now: datetime,
    reserved: datetime | None = None,
) -> list[tuple[BillPreferences, Plan | None]]:
    """Each monthly bill with its plan (None: no allowed instant)."""
    plans: list[tuple[BillPreferences, Plan | None]] = []
    for r in preferences:
        try:
            plans.append((r, plan_bill(r, windows, now, MONTHLY, reserved)))
        except NoAllowedInstant:
            plans.append((r, None))
    return plans
