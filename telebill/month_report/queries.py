"""Reads the month report's figures from PostgreSQL: a few aggregate queries, none per bill."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from telebill.amount_figures import read_amount_figures
from telebill.db.connect import DbConn
from telebill.db.notify_store import EMAIL_DELIVERED, MONTHLY, SMS_DELIVERED
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.send_window import DeferralKind
from telebill.domain.statuses import DELIVERED_PREFIX, NotificationStatus
from telebill.month_report.figures import (
    DeadLetters,
    DeliveryView,
    Funnel,
    Latency,
    Refusals,
    SettlementView,
)
from telebill.settlement_report import read_report

HISTOGRAM_STEP = 10_000  # won per bar
HISTOGRAM_TOP = 500_000  # bills from here on share the last bar
BIN_MINUTES_BELOW = timedelta(hours=6)  # deliveries spread over less: per minute, not per hour
EXAMPLES = 20
ZONE = "Asia/Seoul"  # the operator's hours: the charts' clock
DELIVERED = [AttemptOutcome.SENT.value, AttemptOutcome.DUPLICATE.value]
# A reason with its numbers (ids, amounts, dates) as "#": one row per cause, not per member.
ONE_CAUSE = "regexp_replace({}, '-?[0-9]+', '#', 'g')"


async def read_settlement(conn: DbConn, month: date) -> SettlementView:
    record = await read_report(conn, month)
    spread = await read_amount_figures(conn, month)
    bins = await conn.fetch(
        "SELECT least(amount_due, $2) / $3 * $3 AS low, count(*) AS bills FROM bill "
        "WHERE billing_month = $1 GROUP BY 1 ORDER BY 1",
        month,
        HISTOGRAM_TOP,
        HISTOGRAM_STEP,
    )
    refused = await conn.fetch(
        f"SELECT {ONE_CAUSE.format('reason')} AS reason, count(*) AS members, "
        "(array_agg(member_id ORDER BY member_id))[1:$2] AS examples "
        "FROM settlement_error WHERE billing_month = $1 GROUP BY 1 ORDER BY 2 DESC, 1",
        month,
        EXAMPLES,
    )
    return SettlementView(
        record,
        spread,
        [(r["low"], r["bills"]) for r in bins],
        [Refusals(r["reason"], r["members"], list(r["examples"])) for r in refused],
    )


async def read_delivery(conn: DbConn, month: date) -> DeliveryView:
    per_minute = await conn.fetch(
        """
        SELECT date_trunc('minute', a.at) AS at, a.channel, count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
        JOIN delivery_attempt a ON a.notification_id = n.id
        WHERE b.billing_month = $1 AND a.outcome = ANY($3::text[])
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        month,
        MONTHLY,
        DELIVERED,
    )
    bins = [(r["at"], r["channel"], r["n"]) for r in per_minute]
    minutes = 1
    if bins and bins[-1][0] - bins[0][0] >= BIN_MINUTES_BELOW:
        minutes, bins = 60, _per_hour(bins)
    return DeliveryView(
        bins,
        minutes,
        await _funnel(conn, month),
        await _deferrals(conn, month),
        await _latencies(conn, month),
        await _dead_letters(conn, month),
    )


def _per_hour(bins: list[tuple[datetime, str, int]]) -> list[tuple[datetime, str, int]]:
    hours: dict[tuple[datetime, str], int] = {}
    for at, channel, n in bins:
        key = (at.replace(minute=0), channel)
        hours[key] = hours.get(key, 0) + n
    return [(at, channel, n) for (at, channel), n in sorted(hours.items())]


async def _funnel(conn: DbConn, month: date) -> Funnel:
    pending = f"m.status = '{NotificationStatus.PENDING}'"
    r = await conn.fetchrow(
        f"""
        WITH month AS (
            SELECT n.id, n.status, n.published_at
            FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
            WHERE b.billing_month = $1
        ), first_email AS (  -- the attempt that delivered by e-mail (1: at the first try)
            SELECT a.notification_id, min(a.attempt) AS attempt
            FROM month m JOIN delivery_attempt a ON a.notification_id = m.id
            WHERE a.channel = 'email' AND a.outcome = ANY($3::text[])
            GROUP BY 1
        )
        SELECT count(*) FILTER (WHERE m.status = '{EMAIL_DELIVERED}' AND f.attempt = 1) AS first,
               count(*) FILTER (WHERE m.status = '{EMAIL_DELIVERED}'
                                  AND f.attempt IS DISTINCT FROM 1) AS retried,
               count(*) FILTER (WHERE m.status = '{SMS_DELIVERED}') AS sms,
               count(*) FILTER (WHERE m.status = '{NotificationStatus.DEAD_LETTER}') AS dead,
               count(*) FILTER (WHERE {pending} AND m.published_at IS NOT NULL) AS in_flight,
               count(*) FILTER (WHERE {pending} AND m.published_at IS NULL) AS scheduled
        FROM month m LEFT JOIN first_email f ON f.notification_id = m.id
        """,
        month,
        MONTHLY,
        DELIVERED,
    )
    assert r is not None
    others = await conn.fetch(
        f"""
        SELECT n.channel, count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
        WHERE b.billing_month = $1 AND starts_with(n.status, '{DELIVERED_PREFIX}')
          AND n.status NOT IN ('{EMAIL_DELIVERED}', '{SMS_DELIVERED}')
        GROUP BY 1 ORDER BY 2 DESC
        """,
        month,
        MONTHLY,
    )
    first, retried, sms, dead, in_flight, scheduled = r.values()
    by = {o["channel"]: o["n"] for o in others}
    return Funnel(first, retried, sms, dead, in_flight, scheduled, other_channels=by)


async def _deferrals(conn: DbConn, month: date) -> dict[str, int]:
    rows = await conn.fetch(
        """
        SELECT CASE WHEN strpos(a.error, $4) > 0 THEN $4 ELSE $5 END AS reason,
               count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
        JOIN delivery_attempt a ON a.notification_id = n.id
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


async def _latencies(conn: DbConn, month: date) -> list[Latency]:
    rows = await conn.fetch(
        """
        WITH ms AS (
            SELECT 'provider, ' || a.channel AS what, a.latency_ms::float8 AS ms
            FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
            JOIN delivery_attempt a ON a.notification_id = n.id
            WHERE b.billing_month = $1 AND a.outcome = ANY($3::text[])
              AND a.latency_ms IS NOT NULL
            UNION ALL
            SELECT 'published → delivered',
                   extract(epoch FROM n.delivered_at - n.published_at) * 1000
            FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
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
    return [
        Latency(r["what"], r["n"], *(max(0, round(r[k])) for k in ("p50", "p90", "p99", "top")))
        for r in rows
    ]


async def _dead_letters(conn: DbConn, month: date) -> list[DeadLetters]:
    rows = await conn.fetch(
        f"""
        SELECT {ONE_CAUSE.format("d.reason")} AS reason, count(*) AS letters,
               (array_agg(DISTINCT d.bill_id))[1:$2] AS bills
        FROM dead_letter d JOIN bill b ON b.id = d.bill_id
        WHERE b.billing_month = $1
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
        month,
        EXAMPLES,
    )
    return [DeadLetters(r["reason"], r["letters"], list(r["bills"])) for r in rows]


async def scheduled_by_day(conn: DbConn, month: date) -> list[tuple[date, int]]:
    """Bills still to be sent, by the day (in Seoul) they are planned for."""
    rows = await conn.fetch(
        f"""
        SELECT (n.send_at AT TIME ZONE $3)::date AS day, count(*) AS n
        FROM bill b JOIN notification n ON n.bill_id = b.id AND n.purpose = $2
        WHERE b.billing_month = $1 AND n.status = '{NotificationStatus.PENDING}'
          AND n.published_at IS NULL
          AND n.send_at IS NOT NULL
        GROUP BY 1 ORDER BY 1
        """,
        month,
        MONTHLY,
        ZONE,
    )
    return [(r["day"], r["n"]) for r in rows]
