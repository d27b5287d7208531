"""What the notification workflows read and write in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time

from telebill.db.connect import DbConn
from telebill.domain.send_window import Window, quiet_hours
from telebill.domain.statuses import (
    DELIVERED_PREFIX,
    RESEND_PREFIX,
    NotificationStatus,
    Purpose,
    delivered_status,
)

MONTHLY = Purpose.MONTHLY_BILL
EMAIL_DELIVERED = delivered_status("email")  # counted apart: the first channel of most chains
SMS_DELIVERED = delivered_status("sms")  # and the last


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
        "LEFT JOIN notification n ON n.bill_id = b.id AND n.purpose = $2 WHERE b.id = $1",
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
        "LEFT JOIN notification n ON n.bill_id = b.id AND n.purpose = $2 "
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
    await conn.execute(
        "INSERT INTO notification (bill_id, purpose, workflow_id, send_at) "
        "SELECT b, $1, w, s FROM unnest($2::bigint[], $3::text[], $4::timestamptz[]) AS p(b, w, s) "
        "ON CONFLICT (bill_id, purpose) DO UPDATE "
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
        "INSERT INTO notification (bill_id, purpose, workflow_id, send_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (bill_id, purpose) DO UPDATE "
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
        "INSERT INTO notification (bill_id, purpose, workflow_id, plan_problem) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (bill_id, purpose) DO UPDATE "
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
        LEFT JOIN notification n ON n.bill_id = b.id AND n.purpose = $1
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


@dataclass(frozen=True)
class MonthStatus:
    month: str
    bills: int
    not_scheduled: int  # no notification workflow has planned it yet
    scheduled: int
    workflow_later: int  # of the scheduled, planned only: the daily dispatch starts them nearer
    published: int  # handed to the message platform, no outcome yet
    deferred: int  # of those, held by a send window right now
    delivered_email: int
    delivered_sms: int
    dead_letter: int
    due: int  # scheduled or published for an instant that has come, and not delivered yet
    next_send_at: datetime | None  # the earliest send still to come
    no_time_to_send: int  # found no allowed instant (windows cover a day): see plan_problem
    delivered_other: int = 0  # by a channel besides e-mail and SMS (AlimTalk, push, …)
    delivered_by: dict[str, int] = field(default_factory=dict)  # channel → delivered

    @property
    def settled(self) -> int:
        return self.delivered_email + self.delivered_sms + self.delivered_other + self.dead_letter

    @property
    def caught_up(self) -> bool:
        """Nothing left to do before `next_send_at`."""
        return self.not_scheduled == 0 and self.due == 0


async def month_status(conn: DbConn, month: date, now: datetime) -> MonthStatus:
    pending = f"n.status = '{NotificationStatus.PENDING}'"
    r = await conn.fetchrow(
        f"""
        SELECT count(*) AS bills,
               count(*) FILTER (WHERE n.id IS NULL) AS not_scheduled,
               count(*) FILTER (WHERE {pending} AND n.published_at IS NULL) AS scheduled,
               count(*) FILTER (WHERE {pending} AND n.published_at IS NULL
                                  AND n.workflow_id IS NULL) AS workflow_later,
               count(*) FILTER (WHERE {pending} AND n.published_at IS NOT NULL)
                   AS published,
               count(d.bill_id) AS deferred,
               count(*) FILTER (WHERE n.status = '{EMAIL_DELIVERED}') AS delivered_email,
               count(*) FILTER (WHERE n.status = '{SMS_DELIVERED}') AS delivered_sms,
               count(*) FILTER (WHERE n.status = '{NotificationStatus.DEAD_LETTER}')
                   AS dead_letter,
               count(*) FILTER (WHERE {pending} AND n.send_at <= $3) AS due,
               min(n.send_at) FILTER (WHERE {pending} AND n.send_at > $3)
                   AS next_send_at,
               count(*) FILTER (WHERE {pending} AND n.plan_problem IS NOT NULL)
                   AS no_time_to_send,
               count(*) FILTER (WHERE starts_with(n.status, '{DELIVERED_PREFIX}')
                                  AND n.status NOT IN ('{EMAIL_DELIVERED}', '{SMS_DELIVERED}'))
                   AS delivered_other
        FROM bill b
        LEFT JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
        LEFT JOIN deferred_event d ON d.bill_id = b.id AND d.purpose = $2
        WHERE b.billing_month = $1
        """,
        month,
        MONTHLY,
        now,
    )
    assert r is not None
    by = await conn.fetch(
        "SELECT n.channel, count(*) AS n FROM bill b JOIN notification n "
        "ON n.bill_id = b.id AND n.purpose = $2 "
        f"WHERE b.billing_month = $1 AND starts_with(n.status, '{DELIVERED_PREFIX}') "
        "GROUP BY n.channel",
        month,
        MONTHLY,
    )
    return MonthStatus(f"{month:%Y-%m}", **dict(r), delivered_by={x["channel"]: x["n"] for x in by})


async def last_errors(conn: DbConn, month: date, member_ids: Sequence[int]) -> dict[int, str]:
    """member id → the last error recorded for their bill of the month (for `telebill stuck`)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (b.member_id) b.member_id, d.error, d.channel, d.at
        FROM bill b JOIN notification n ON n.bill_id = b.id
        JOIN delivery_attempt d ON d.notification_id = n.id
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
        "FROM notification n JOIN bill b ON b.id = n.bill_id "
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


async def member_bills(conn: DbConn, member_id: int, limit: int = 24) -> list[BillNotice]:
    """The member's latest bills, newest first, each with its notifications."""
    rows = await conn.fetch(
        "SELECT b.id, to_char(b.billing_month, 'YYYY-MM'), b.amount_due, n.purpose, n.status, "
        "n.channel, n.send_at, n.delivered_at, n.workflow_id "
        "FROM (SELECT * FROM bill WHERE member_id = $1 ORDER BY billing_month DESC LIMIT $2) b "
        "LEFT JOIN notification n ON n.bill_id = b.id "
        "ORDER BY b.billing_month DESC, n.id",
        member_id,
        limit,
    )
    return [BillNotice(*r.values()) for r in rows]
