"""The notifications aggregate's plans and lookups: the `notification` rows the notification
workflows plan (a send instant, a workflow, or a plan problem) and look up, the bills they
reach, the notifications still waiting to send, a member's bills with their notifications.

The aggregate's other statements, by what they do: the consumers' delivery records, the
published rows, the outcome outbox and the simulated providers' keys, `delivery_store.py`; the
dead letters, `dead_letter_store.py`; the events a send window deferred, `deferred_store.py`.
The month's counts are the read model's (`telebill/db/month_views.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from telebill.db.connect import DbConn
from telebill.db.delivery_key import DELIVERY_KEY
from telebill.db.month_views import MONTHLY
from telebill.db.reference_checks import one_plan_per_reference_check
from telebill.domain.send_window import Window, quiet_hours
from telebill.domain.statuses import RESEND_PREFIX, NotificationStatus


@dataclass(frozen=True)
class BillPreferences:
    """A bill and the preferences its send instant depends on."""

    bill_id: int
    member_id: int
    billing_month: date
    ready_at: datetime  # when the bill was committed
    preferred_day: int
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    status: str | None  # of this purpose's notification, if there is one
    bill_channel: str = "email"  # the member's choice: where the monthly bill's chain starts

    @property
    def quiet_hours(self) -> Window | None:
        return quiet_hours(self.quiet_start, self.quiet_end, self.timezone)


async def load_bill_preferences(conn: DbConn, bill_id: int, purpose: str) -> BillPreferences | None:
    r = await conn.fetchrow(
        "SELECT b.id, b.member_id, b.billing_month, b.created_at, m.preferred_day, "
        "m.quiet_start, m.quiet_end, m.timezone, n.status, m.bill_channel "
        "FROM bill b JOIN member m ON m.id = b.member_id "
        "LEFT JOIN notification n ON n.bill_id = b.id AND n.billing_month = b.billing_month"
        " AND n.purpose = $2 WHERE b.id = $1",
        bill_id,
        purpose,
    )
    if r is None:
        return None
    return BillPreferences(*r.values())


async def load_preferences_of(
    conn: DbConn, bill_ids: Sequence[int], purpose: str
) -> list[BillPreferences]:
    """`load_bill_preferences` for a page of bills, in one query."""
    rows = await conn.fetch(
        "SELECT b.id, b.member_id, b.billing_month, b.created_at, m.preferred_day, "
        "m.quiet_start, m.quiet_end, m.timezone, n.status, m.bill_channel "
        "FROM bill b JOIN member m ON m.id = b.member_id "
        "LEFT JOIN notification n ON n.bill_id = b.id AND n.billing_month = b.billing_month"
        " AND n.purpose = $2 "
        "WHERE b.id = ANY($1::bigint[]) ORDER BY b.member_id",
        list(bill_ids),
        purpose,
    )
    return [BillPreferences(*r.values()) for r in rows]


@dataclass(frozen=True)
class PlannedSend:
    bill_id: int
    workflow_id: str | None  # None: planned only; the daily dispatch starts it nearer the day
    send_at: datetime


async def record_plans(conn: DbConn, purpose: str, plans: Sequence[PlannedSend]) -> None:
    """`record_plan` for a page of bills, in one statement. A plan without a workflow never
    replaces one whose workflow was started (that workflow keeps its own plan)."""
    async with conn.transaction():
        await one_plan_per_reference_check(conn)
        await _insert_plans(conn, purpose, plans)


async def _insert_plans(conn: DbConn, purpose: str, plans: Sequence[PlannedSend]) -> None:
    await conn.execute(
        "INSERT INTO notification (billing_month, bill_id, purpose, workflow_id, send_at) "
        "SELECT bill.billing_month, b, $1, w, s "
        "FROM unnest($2::bigint[], $3::text[], $4::timestamptz[]) AS p(b, w, s) "
        "JOIN bill ON bill.id = p.b "
        # by bill, whatever the plan: two pages written at once lock their common rows in one
        # order, never each waiting for the other's (a deadlock)
        "ORDER BY p.b "
        f"ON CONFLICT {DELIVERY_KEY} DO UPDATE "
        "SET workflow_id = excluded.workflow_id, send_at = excluded.send_at, plan_problem = NULL "
        f"WHERE notification.status = '{NotificationStatus.PENDING}' "
        "AND notification.published_at IS NULL "
        "AND (excluded.workflow_id IS NOT NULL OR notification.workflow_id IS NULL)",
        purpose,
        [p.bill_id for p in plans],
        [p.workflow_id for p in plans],
        [p.send_at for p in plans],
    )


async def record_plan(
    conn: DbConn, bill_id: int, purpose: str, workflow_id: str, send_at: datetime
) -> None:
    """The notification is scheduled: `telebill status` counts it, dispatch leaves it alone."""
    await conn.execute(
        "INSERT INTO notification (billing_month, bill_id, purpose, workflow_id, send_at) "
        "SELECT billing_month, id, $2, $3, $4 FROM bill WHERE id = $1 "
        f"ON CONFLICT {DELIVERY_KEY} DO UPDATE "
        "SET workflow_id = excluded.workflow_id, send_at = excluded.send_at, plan_problem = NULL",
        bill_id,
        purpose,
        workflow_id,
        send_at,
    )


async def record_plan_problem(
    conn: DbConn, bill_id: int, purpose: str, workflow_id: str, problem: str
) -> None:
    """The notification found no allowed instant: `telebill status` counts it with the reason
    until a plan succeeds (no send instant meanwhile)."""
    await conn.execute(
        "INSERT INTO notification (billing_month, bill_id, purpose, workflow_id, plan_problem) "
        "SELECT billing_month, id, $2, $3, $4 FROM bill WHERE id = $1 "
        f"ON CONFLICT {DELIVERY_KEY} DO UPDATE "
        "SET workflow_id = excluded.workflow_id, plan_problem = excluded.plan_problem, "
        "send_at = NULL",
        bill_id,
        purpose,
        workflow_id,
        problem,
    )


async def notification_status(conn: DbConn, bill_id: int, purpose: str) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM notification WHERE bill_id = $1 AND purpose = $2", bill_id, purpose
    )
    return status


@dataclass(frozen=True)
class BillRef:
    bill_id: int
    member_id: int
    started: bool  # its workflow was started (it has a workflow id)


async def bills_to_notify(
    conn: DbConn,
    month: date,
    after_member: int,
    last_member: int,
    limit: int,
    members: Sequence[int] | None,
    overdue_before: datetime | None,
    start_before: datetime | None = None,
) -> list[BillRef]:
    """The month's bills in a member range that need a notification workflow, in member order.

    With `overdue_before`: only bills never planned, planned for before that instant and still
    undelivered (their workflow should have sent them: it may be gone), or planned without a
    workflow for before `start_before` (their day is near). Without it: every bill not
    delivered or dead-lettered yet (a reservation or "send now" reaches them all)."""
    rows = await conn.fetch(
        f"""
        SELECT b.id, b.member_id, n.workflow_id IS NOT NULL AS started FROM bill b
        LEFT JOIN notification n ON n.bill_id = b.id AND n.billing_month = b.billing_month
            AND n.purpose = $1
        WHERE b.billing_month = $2 AND b.member_id > $3 AND b.member_id <= $4
          AND ($5::bigint[] IS NULL OR b.member_id = ANY($5::bigint[]))
          AND (n.id IS NULL OR (n.status = '{NotificationStatus.PENDING}'
               AND ($6::timestamptz IS NULL OR n.send_at IS NULL OR n.send_at < $6
                    OR (n.workflow_id IS NULL AND n.published_at IS NULL
                        AND n.send_at < $8))))
        ORDER BY b.member_id LIMIT $7
        """,
        MONTHLY,
        month,
        after_member,
        last_member,
        list(members) if members is not None else None,
        overdue_before,
        limit,
        start_before or overdue_before,
    )
    return [BillRef(r["id"], r["member_id"], r["started"]) for r in rows]


async def member_range(conn: DbConn, month: date) -> tuple[int, int] | None:
    r = await conn.fetchrow(
        "SELECT min(member_id) AS lo, max(member_id) AS hi FROM bill WHERE billing_month = $1",
        month,
    )
    if r is None or r["lo"] is None:
        return None
    return int(r["lo"]), int(r["hi"])


async def last_errors(conn: DbConn, month: date, member_ids: Sequence[int]) -> dict[int, str]:
    """member id → the last error recorded for their bill of the month (for `telebill stuck`)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (b.member_id) b.member_id, d.error, d.channel, d.at
        FROM bill b JOIN notification n ON n.bill_id = b.id AND n.billing_month = b.billing_month
        JOIN delivery_attempt d ON d.notification_id = n.id AND d.billing_month = n.billing_month
        WHERE b.billing_month = $1 AND b.member_id = ANY($2::bigint[]) AND d.error IS NOT NULL
        ORDER BY b.member_id, d.id DESC
        """,
        month,
        list(member_ids),
    )
    return {
        r["member_id"]: f"{r['channel']}: {r['error']} ({r['at']:%Y-%m-%d %H:%M})" for r in rows
    }


async def bill_of(conn: DbConn, bill_id: int) -> tuple[int, date] | None:
    r = await conn.fetchrow("SELECT member_id, billing_month FROM bill WHERE id = $1", bill_id)
    return (int(r["member_id"]), r["billing_month"]) if r else None


async def bill_for(conn: DbConn, member_id: int, month: date) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT id FROM bill WHERE member_id = $1 AND billing_month = $2", member_id, month
    )
    return found


async def resend_count(conn: DbConn, bill_id: int) -> int:
    n: int = await conn.fetchval(
        f"SELECT count(*) FROM notification WHERE bill_id = $1 AND purpose LIKE '{RESEND_PREFIX}%'",
        bill_id,
    )
    return n


@dataclass(frozen=True)
class Waiting:
    """A notification planned and not published yet, and its workflow."""

    workflow_id: str | None  # None: planned, its workflow not started yet
    bill_id: int
    member_id: int
    month: str  # YYYY-MM
    purpose: str


async def waiting_workflows(
    conn: DbConn,
    month: date | None = None,
    member_ids: Sequence[int] | None = None,
    *,
    unstarted: bool = False,
) -> list[Waiting]:
    """The notifications still waiting to send (planned, not published yet), of a month and/or
    some members, whose workflow was started (and, with `unstarted`, those planned whose
    workflow the daily dispatch has yet to start): those a preference change or a cancelled
    reservation re-plans."""
    rows = await conn.fetch(
        "SELECT n.workflow_id, b.id, b.member_id, to_char(b.billing_month, 'YYYY-MM'), n.purpose "
        "FROM notification n JOIN bill b ON b.id = n.bill_id AND b.billing_month = n.billing_month "
        "WHERE ($1::date IS NULL OR b.billing_month = $1) "
        "AND ($2::bigint[] IS NULL OR b.member_id = ANY($2::bigint[])) "
        f"AND n.status = '{NotificationStatus.PENDING}' AND n.published_at IS NULL "
        "AND ($3 OR n.workflow_id IS NOT NULL)",
        month,
        list(member_ids) if member_ids is not None else None,
        unstarted,
    )
    return [Waiting(*r.values()) for r in rows]


@dataclass(frozen=True)
class BillNotice:
    """One bill of a member and one of its notifications (the monthly one, resends), as the
    console's bill search shows them."""

    bill_id: int
    month: str
    amount_due: int
    purpose: str | None  # None: no notification yet
    status: str | None
    channel: str | None
    send_at: datetime | None
    delivered_at: datetime | None
    workflow_id: str | None


async def member_bills(conn: DbConn, member_id: int, since: date, before: date) -> list[BillNotice]:
    """The member's bills of the months from `since` up to `before` (excluded), newest first,
    each with its notifications.

    The months are named, not a count of bills: PostgreSQL has no index across partitions, so
    "the latest N bills" probes every month online (60 probes at five years), while a range of
    months probes those months' partitions only, whatever the history holds."""
    rows = await conn.fetch(
        "SELECT b.id, to_char(b.billing_month, 'YYYY-MM'), b.amount_due, n.purpose, n.status, "
        "n.channel, n.send_at, n.delivered_at, n.workflow_id "
        "FROM bill b "
        # the bill's month named: each bill reads its own month's notifications, not every
        # month's (a member's page would otherwise cost months × bills probes)
        "LEFT JOIN notification n ON n.bill_id = b.id AND n.billing_month = b.billing_month "
        "WHERE b.member_id = $1 AND b.billing_month >= $2 AND b.billing_month < $3 "
        "ORDER BY b.billing_month DESC, n.id",
        member_id,
        since,
        before,
    )
    return [BillNotice(*r.values()) for r in rows]
