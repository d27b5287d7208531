"""The promises of DESIGN section 2, checked after a drill from PostgreSQL, Kafka, Temporal and
the simulated providers together."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
from temporalio.client import Client

from telebill import clock
from telebill.config import Settings
from telebill.db.blackout_store import blackout_windows
from telebill.db.month_views import month_status
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.month import parse_month
from telebill.domain.send_window import quiet_hours
from telebill.messaging.lag import consumer_lag

STATUSES = ("DELIVERED_EMAIL", "DELIVERED_SMS", "DEAD_LETTER")


class Audited(Protocol):
    """A month of an installation: a drill's, or the staging month's (bench/staging.py)."""

    conn: asyncpg.Connection
    settings: Settings
    month: str


@dataclass
class AuditedMonth:
    conn: asyncpg.Connection
    settings: Settings
    month: str


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


async def settled(inst: Audited) -> bool:
    """Every bill that is due has an outcome (the rest wait for a later instant)."""
    s = await month_status(inst.conn, parse_month(inst.month), clock.now(inst.settings))
    return s.bills > 0 and s.caught_up


async def sleeping(inst: Audited) -> int:
    """Notifications planned for later that are not published yet (their workflows sleep)."""
    n = await inst.conn.fetchval(
        "SELECT count(*) FROM notification WHERE status = 'PENDING' AND published_at IS NULL "
        "AND send_at > $1",
        clock.now(inst.settings),
    )
    return int(n)


async def progress(inst: Audited) -> str:
    """How far the month is: for the report, when a fault strikes."""
    r = await inst.conn.fetchrow(
        "SELECT (SELECT count(*) FROM bill) AS bills, "
        "count(*) FILTER (WHERE published_at IS NOT NULL) AS published, "
        "count(*) FILTER (WHERE status LIKE 'DELIVERED_%') AS delivered FROM notification"
    )
    assert r is not None
    return (
        f"{r['bills']:,} bills, {r['published']:,} published, {r['delivered']:,} delivered, "
        f"{await sleeping(inst):,} asleep"
    )


async def longest_pause(inst: Audited, since: datetime) -> float:
    """The longest time from `since` (the strike) without a send attempt, up to the last one:
    how long the fault held delivery up."""
    rows = await inst.conn.fetch(
        "SELECT at FROM delivery_attempt WHERE at >= $1 AND outcome <> $2 ORDER BY at",
        since,
        AttemptOutcome.DEFERRED.value,
    )
    times = [since, *(r["at"] for r in rows)]
    return (
        round(max((b - a).total_seconds() for a, b in itertools.pairwise(times)), 1)
        if rows
        else 0.0
    )


async def bills(inst: Audited) -> Check:
    r = await inst.conn.fetchrow(
        """
        SELECT (SELECT count(DISTINCT member_id) FROM usage_monthly WHERE billing_month = $1)
                   AS with_usage,
               (SELECT count(*) FROM settlement_error WHERE billing_month = $1) AS refused,
               (SELECT count(*) FROM bill WHERE billing_month = $1) AS bills,
               (SELECT count(*) FROM (SELECT 1 FROM bill WHERE billing_month = $1
                                      GROUP BY member_id HAVING count(*) > 1) d) AS doubled,
               (SELECT count(*) FROM bill b WHERE b.billing_month = $1 AND b.amount_due <>
                   (SELECT coalesce(sum(i.amount), 0) FROM bill_item i WHERE i.bill_id = b.id))
                   AS unbalanced,
               (SELECT count(*) FROM bill_item i LEFT JOIN bill b ON b.id = i.bill_id
                WHERE b.id IS NULL) AS orphans
        """,
        parse_month(inst.month),
    )
    assert r is not None
    ok = (
        r["bills"] + r["refused"] == r["with_usage"]
        and r["doubled"] == 0
        and r["unbalanced"] == 0
        and r["orphans"] == 0
    )
    detail = (
        f"{r['bills']} bills + {r['refused']} refused of {r['with_usage']} members; "
        f"{r['doubled']} doubled, {r['unbalanced']} not summing, {r['orphans']} orphan items"
    )
    return Check("one bill per member, items sum to it", ok, detail)


async def notifications(inst: Audited, client: Client) -> Check:
    """Each bill in exactly one terminal state or scheduled later, the same in PostgreSQL and
    in Temporal's NotifyStatus."""
    rows = await inst.conn.fetch(
        "SELECT coalesce(n.status, 'NONE') AS status, count(*) AS n FROM bill b "
        "LEFT JOIN notification n ON n.bill_id = b.id AND n.purpose = 'MONTHLY_BILL' "
        "WHERE b.billing_month = $1 GROUP BY 1",
        parse_month(inst.month),
    )
    db = {r["status"]: r["n"] for r in rows}
    later = await inst.conn.fetchval(
        "SELECT count(*) FROM notification WHERE status = 'PENDING' AND send_at > $1 "
        "AND billing_month = $2 AND purpose = 'MONTHLY_BILL'",
        clock.now(inst.settings),
        parse_month(inst.month),
    )
    query = f'BillingMonth="{inst.month}" AND TaskQueue="{inst.settings.task_queue}"'
    temporal = {
        st: (await client.count_workflows(f'{query} AND NotifyStatus="{st}"')).count
        for st in STATUSES
    }
    undecided = db.get("PENDING", 0) - later + db.get("NONE", 0)
    same = all(db.get(st, 0) == temporal[st] for st in STATUSES)
    detail = ", ".join(f"{st} {db.get(st, 0)}/{temporal[st]}" for st in STATUSES)
    return Check(
        "one outcome per bill, PostgreSQL = Temporal",
        undecided == 0 and same,
        f"{detail} (PostgreSQL/Temporal); {later} later, {undecided} undecided",
    )


async def provider(inst: Audited) -> Check:
    """What the providers accepted, against what PostgreSQL says was delivered: a key accepted
    is a message a member received, so one per delivered bill and channel."""
    rows = await inst.conn.fetch(
        "SELECT channel, count(*) AS accepted, coalesce(sum(refusals), 0) AS refused "
        "FROM provider_message GROUP BY 1"
    )
    accepted = {r["channel"]: (r["accepted"], r["refused"]) for r in rows}
    delivered = {
        r["channel"]: r["n"]
        for r in await inst.conn.fetch(
            "SELECT channel, count(*) AS n FROM notification "
            "WHERE status LIKE 'DELIVERED_%' GROUP BY 1"
        )
    }
    ok = all(accepted.get(ch, (0, 0))[0] == delivered.get(ch, 0) for ch in ("email", "sms"))
    detail = "; ".join(
        f"{ch}: {accepted.get(ch, (0, 0))[0]} accepted for {delivered.get(ch, 0)} delivered, "
        f"{accepted.get(ch, (0, 0))[1]} refused as duplicates"
        for ch in ("email", "sms")
    )
    return Check("each delivered once by the provider", ok, detail)


async def windows(inst: Audited) -> Check:
    """No bill sent inside its member's quiet hours or a system blackout window, by the
    installation's clock when the send started."""
    rows = await inst.conn.fetch(
        "SELECT a.at, m.quiet_start, m.quiet_end, m.timezone FROM delivery_attempt a "
        "JOIN notification n ON n.id = a.notification_id JOIN bill b ON b.id = n.bill_id "
        "JOIN member m ON m.id = b.member_id WHERE a.outcome = $1",
        AttemptOutcome.SENT.value,
    )
    system = await blackout_windows(inst.conn, inst.settings.system_time_zone)
    inside = [
        r["at"]
        for r in rows
        if any(
            w.instance_around(r["at"])
            for w in [*system, quiet_hours(r["quiet_start"], r["quiet_end"], r["timezone"])]
            if w is not None
        )
    ]
    detail = f"{len(inside)} of {len(rows)} sends" + (f", first at {min(inside)}" if inside else "")
    return Check("no send inside a window", not inside, detail)


async def lag(inst: Audited) -> Check:
    s = inst.settings
    left = {
        r.topic.removeprefix(s.topic_prefix): r.lag
        for r in await consumer_lag(s.kafka_servers, s.topic_prefix)
        if r.lag
    }
    return Check("every event handled (lag 0)", not left, str(left) if left else "0")


async def check_all(inst: Audited, client: Client) -> list[Check]:
    return [
        await bills(inst),
        await notifications(inst, client),
        await provider(inst),
        await windows(inst),
        await lag(inst),
    ]
