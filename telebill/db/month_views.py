"""The month's read model: the views of a month that `telebill status`, the API and console, and
the month report share, each a few aggregate queries (never one per bill).

The month is counted in one place, `month_status`: the CLI prints it, the API and the console
show it, and the month report's funnel is drawn from it (with `email_first_try` splitting its
e-mail deliveries by attempt). The report's other figures (amounts, refusals, deliveries by
minute, deferrals, latencies, dead letters, days planned) are read here too. The aggregates'
own statements live in their stores (`settlement_store`, `notify_store`, …).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import asyncpg

from telebill.db.connect import DbConn
from telebill.db.tally_store import month_tally
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.bill_lines import LineKind
from telebill.domain.send_window import DeferralKind
from telebill.domain.statuses import (
    DELIVERED_PREFIX,
    NotificationStatus,
    Purpose,
    delivered_status,
)

MONTHLY = Purpose.MONTHLY_BILL
EMAIL_DELIVERED = delivered_status("email")  # counted apart: the first channel of most chains
SMS_DELIVERED = delivered_status("sms")  # and the last
DELIVERED = [AttemptOutcome.SENT.value, AttemptOutcome.DUPLICATE.value]  # attempts that delivered
# A reason with its numbers (ids, amounts, dates) as "#": one row per cause, not per member.
ONE_CAUSE = "regexp_replace({}, '-?[0-9]+', '#', 'g')"


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
    """The month's monthly notifications by state, as of `now` (for `due`/`next_send_at`): the
    counts the database keeps (migration 0019), and what depends on the clock from the pending
    notifications' index, which holds only those not ended yet."""
    tally = await month_tally(conn, month)
    r = await conn.fetchrow(
        f"""
        SELECT (SELECT count(*) FROM notification
                WHERE billing_month = $1 AND status = '{NotificationStatus.PENDING}'
                  AND purpose = '{MONTHLY}' AND send_at <= $2) AS due,
               (SELECT min(send_at) FROM notification
                WHERE billing_month = $1 AND status = '{NotificationStatus.PENDING}'
                  AND purpose = '{MONTHLY}' AND send_at > $2) AS next_send_at,
               (SELECT count(*) FROM deferred_event d JOIN bill b ON b.id = d.bill_id
                WHERE b.billing_month = $1 AND d.purpose = '{MONTHLY}') AS deferred
        """,
        month,
        now,
    )
    assert r is not None
    return status_of(f"{month:%Y-%m}", tally, r["due"], r["next_send_at"], r["deferred"])


PROBLEM = ":problem"


def status_of(
    month: str, tally: dict[str, int], due: int, next_send_at: datetime | None, deferred: int
) -> MonthStatus:
    """The month status from the kept counts (keys: telebill_notice_key, migration 0019)."""

    def pending(*phases: str) -> int:
        return sum(
            n
            for key, n in tally.items()
            if key.removesuffix(PROBLEM) in {f"{NotificationStatus.PENDING}:{p}" for p in phases}
        )

    delivered = {
        key.removeprefix(DELIVERED_PREFIX).lower(): n
        for key, n in tally.items()
        if key.startswith(DELIVERED_PREFIX)
    }
    notices = sum(n for key, n in tally.items() if key != "bill")
    bills = tally.get("bill", 0)
    return MonthStatus(
        month=month,
        bills=bills,
        not_scheduled=bills - notices,
        scheduled=pending("planned", "scheduled"),
        workflow_later=pending("planned"),
        published=pending("published"),
        deferred=deferred,
        delivered_email=delivered.get("email", 0),
        delivered_sms=delivered.get("sms", 0),
        dead_letter=tally.get(NotificationStatus.DEAD_LETTER.value, 0),
        due=due,
        next_send_at=next_send_at,
        no_time_to_send=sum(n for key, n in tally.items() if key.endswith(PROBLEM)),
        delivered_other=sum(n for c, n in delivered.items() if c not in {"email", "sms"}),
        delivered_by=delivered,
    )


async def recount_month_status(conn: DbConn, month: date, now: datetime) -> MonthStatus:
    """`month_status` counted from the rows themselves (every bill of the month): what the
    kept counts are checked against (tests/integration/test_month_tally.py, bench)."""
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
        LEFT JOIN notification n ON n.bill_id = b.id
            AND n.billing_month = b.billing_month AND n.purpose = $2
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
        "ON n.bill_id = b.id AND n.billing_month = b.billing_month AND n.purpose = $2 "
        f"WHERE b.billing_month = $1 AND starts_with(n.status, '{DELIVERED_PREFIX}') "
        "GROUP BY n.channel",
        month,
        MONTHLY,
    )
    return MonthStatus(f"{month:%Y-%m}", **dict(r), delivered_by={x["channel"]: x["n"] for x in by})


# Every join of the month's tables names the month on both sides (a notification and its
# attempts are of their bill's month): the planner then reads that month's partitions only,
# not every month's index (bench.year: the report went from 27 to 42 s in four months).

# A delivery is a fallback when the notification has an attempt on another channel: a chain
# moves on to its next channel only after the one before failed, so an attempt elsewhere means
# an earlier channel of its chain was tried and gave up.
FELL_BACK = (
    "EXISTS (SELECT 1 FROM delivery_attempt o "
    "WHERE o.notification_id = n.id AND o.billing_month = n.billing_month"
    " AND o.channel <> n.channel)"
)


async def deliveries_by_channel(conn: DbConn, month: date) -> dict[str, tuple[int, int]]:
    """The month's delivered monthly notifications by the channel that delivered them:
    channel → (on the chain's first channel, the member's choice; as a fallback)."""
    rows = await conn.fetch(
        f"""
        SELECT n.channel,
               count(*) FILTER (WHERE NOT {FELL_BACK}) AS chosen,
               count(*) FILTER (WHERE {FELL_BACK}) AS fallback
        FROM bill b JOIN notification n ON n.bill_id = b.id
            AND n.billing_month = b.billing_month AND n.purpose = $2
        WHERE b.billing_month = $1 AND starts_with(n.status, '{DELIVERED_PREFIX}')
        GROUP BY n.channel
        """,
        month,
        MONTHLY,
    )
    return {r["channel"]: (r["chosen"], r["fallback"]) for r in rows}


async def email_first_try(conn: DbConn, month: date) -> int:
    """Of the month's notifications delivered by e-mail as the chain's first channel, those
    whose first delivering e-mail attempt was the first try."""
    n: int = await conn.fetchval(
        f"""
        SELECT count(*) FROM (
            SELECT n.id
            FROM bill b JOIN notification n ON n.bill_id = b.id
                AND n.billing_month = b.billing_month AND n.purpose = $2
            JOIN delivery_attempt a
            ON a.notification_id = n.id AND a.billing_month = n.billing_month
            WHERE b.billing_month = $1 AND n.status = '{EMAIL_DELIVERED}'
              AND a.channel = 'email' AND a.outcome = ANY($3::text[]) AND NOT {FELL_BACK}
            GROUP BY n.id HAVING min(a.attempt) = 1
        ) first
        """,
        month,
        MONTHLY,
        DELIVERED,
    )
    return n


# The month report's other figures.


async def amount_spread(
    conn: DbConn, month: date, explaining_kinds: Sequence[str], high_bill: int
) -> asyncpg.Record | None:
    """The spread of the month's amounts due, with and without the lines of `explaining_kinds`
    (telebill/amount_figures.py names the columns)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        WITH per_bill AS (
            SELECT b.amount_due,
                   (b.amount_due - coalesce(sum(i.amount) FILTER (
                       WHERE i.kind = ANY($2::text[])), 0))::bigint AS rest,
                   count(*) FILTER (WHERE i.snapshot ? 'prorated') AS prorated,
                   -- per plan: the data note is on its fee line and copied onto its
                   -- 선택약정 discount line, so only the fee lines are counted
                   count(*) FILTER (WHERE i.kind = $4
                                      AND i.snapshot -> 'data' ? 'throttle_kbps') AS throttled,
                   count(*) FILTER (WHERE i.kind = $4
                                      AND i.snapshot -> 'data' ? 'capped_by') AS capped
            FROM bill b
            LEFT JOIN bill_item i ON i.bill_id = b.id AND i.billing_month = b.billing_month
            WHERE b.billing_month = $1
            GROUP BY b.id, b.billing_month  -- the key (a bill's id alone no longer is)
        )
        SELECT count(*) AS bills,
               coalesce(avg(amount_due), 0)::bigint AS mean,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY amount_due) AS median,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY amount_due) AS p90,
               percentile_disc(0.99) WITHIN GROUP (ORDER BY amount_due) AS p99,
               max(amount_due) AS largest,
               percentile_disc(0.99) WITHIN GROUP (ORDER BY rest) AS p99_rest,
               max(rest) AS largest_rest,
               count(*) FILTER (WHERE rest > $3) AS high,
               sum(prorated)::bigint AS prorated, sum(throttled)::bigint AS throttled,
               sum(capped)::bigint AS capped
        FROM per_bill
        """,
        month,
        list(explaining_kinds),
        high_bill,
        LineKind.PLAN_FEE,
    )
    return row


async def amount_histogram(conn: DbConn, month: date, top: int, step: int) -> list[tuple[int, int]]:
    """(lower bound in won, bills) in bars of `step`; bills from `top` on share the last."""
    rows = await conn.fetch(
        "SELECT least(amount_due, $2) / $3 * $3 AS low, count(*) AS bills FROM bill "
        "WHERE billing_month = $1 GROUP BY 1 ORDER BY 1",
        month,
        top,
        step,
    )
    return [(r["low"], r["bills"]) for r in rows]


async def refusals_by_cause(
    conn: DbConn, month: date, examples: int
) -> list[tuple[str, int, list[int]]]:
    """The settlement's refusals by cause: (reason, members, the first `examples` of them)."""
    rows = await conn.fetch(
        f"SELECT {ONE_CAUSE.format('reason')} AS reason, count(*) AS members, "
        "(array_agg(member_id ORDER BY member_id))[1:$2] AS examples "
        "FROM settlement_error WHERE billing_month = $1 GROUP BY 1 ORDER BY 2 DESC, 1",
        month,
        examples,
    )
    return [(r["reason"], r["members"], list(r["examples"])) for r in rows]


async def delivered_per_minute(conn: DbConn, month: date) -> list[tuple[datetime, str, int]]:
    """(minute, channel, deliveries) of the month's monthly notifications."""
    rows = await conn.fetch(
        """
        SELECT date_trunc('minute', a.at) AS at, a.channel, count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id
            AND n.billing_month = b.billing_month AND n.purpose = $2
        JOIN delivery_attempt a
            ON a.notification_id = n.id AND a.billing_month = n.billing_month
        WHERE b.billing_month = $1 AND a.outcome = ANY($3::text[])
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        month,
        MONTHLY,
        DELIVERED,
    )
    return [(r["at"], r["channel"], r["n"]) for r in rows]


async def deferrals_by_kind(conn: DbConn, month: date) -> dict[str, int]:
    """Deferred attempts by the window that held them (quiet hours or a blackout)."""
    rows = await conn.fetch(
        """
        SELECT CASE WHEN strpos(a.error, $4) > 0 THEN $4 ELSE $5 END AS reason,
               count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id
            AND n.billing_month = b.billing_month AND n.purpose = $2
        JOIN delivery_attempt a
            ON a.notification_id = n.id AND a.billing_month = n.billing_month
        WHERE b.billing_month = $1 AND a.outcome = $3
        GROUP BY 1 ORDER BY 1
        """,
        month,
        MONTHLY,
        AttemptOutcome.DEFERRED.value,
        DeferralKind.QUIET_HOURS.value,  # DeferralKind.of, read where the rows are
        DeferralKind.BLACKOUT.value,
    )
    return {r["reason"]: r["n"] for r in rows}


async def latency_percentiles(conn: DbConn, month: date) -> list[asyncpg.Record]:
    """what, n, p50, p90, p99, top (milliseconds): each channel's provider latency and the
    time from publishing to delivery."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        WITH ms AS (
            SELECT 'provider, ' || a.channel AS what, a.latency_ms::float8 AS ms
            FROM bill b JOIN notification n ON n.bill_id = b.id
                AND n.billing_month = b.billing_month AND n.purpose = $2
            JOIN delivery_attempt a
            ON a.notification_id = n.id AND a.billing_month = n.billing_month
            WHERE b.billing_month = $1 AND a.outcome = ANY($3::text[])
              AND a.latency_ms IS NOT NULL
            UNION ALL
            SELECT 'published → delivered',
                   extract(epoch FROM n.delivered_at - n.published_at) * 1000
            FROM bill b JOIN notification n ON n.bill_id = b.id
                AND n.billing_month = b.billing_month AND n.purpose = $2
            WHERE b.billing_month = $1 AND n.delivered_at IS NOT NULL
              AND n.published_at IS NOT NULL
        )
        SELECT what, count(*) AS n,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY ms) AS p90,
               percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
               max(ms) AS top
        FROM ms GROUP BY what ORDER BY what
        """,
        month,
        MONTHLY,
        DELIVERED,
    )
    return rows


async def dead_letters_by_cause(
    conn: DbConn, month: date, examples: int
) -> list[tuple[str, int, list[int]]]:
    """The month's dead letters by cause: (reason, letters, the first `examples` bills)."""
    rows = await conn.fetch(
        f"""
        SELECT {ONE_CAUSE.format("d.reason")} AS reason, count(*) AS letters,
               (array_agg(DISTINCT d.bill_id))[1:$2] AS bills
        FROM dead_letter d JOIN bill b ON b.id = d.bill_id
        WHERE b.billing_month = $1
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        month,
        examples,
    )
    return [(r["reason"], r["letters"], list(r["bills"])) for r in rows]


async def scheduled_by_day(conn: DbConn, month: date, zone: str) -> list[tuple[date, int]]:
    """Bills still to be sent, by the day (in `zone`) they are planned for."""
    rows = await conn.fetch(
        f"""
        SELECT (n.send_at AT TIME ZONE $3)::date AS day, count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id
            AND n.billing_month = b.billing_month AND n.purpose = $2
        WHERE b.billing_month = $1 AND n.status = '{NotificationStatus.PENDING}'
          AND n.published_at IS NULL
          AND n.send_at IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """,
        month,
        MONTHLY,
        zone,
    )
    return [(r["day"], r["n"]) for r in rows]
