"""The notifications aggregate's home: every statement on `notification`, `delivery_attempt`,
`dead_letter`, `deferred_event` and `provider_message`.

What the notification workflows plan and look up; the consumers' idempotent delivery records,
written in batches (the delivery key is (bill_id, purpose): the `notification` row, whose status
moves from PENDING to DELIVERED_<CHANNEL> or DEAD_LETTER at most once to a delivered state, a
second success for the same key being recorded as an attempt that changes nothing); the outcome
outbox the reporter claims; the events a send window deferred; the simulated providers' keys.
The month's counts are the read model's (`telebill/db/month_views.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Protocol

import asyncpg

from telebill.db.connect import DbConn

# The month's counts are the read model's; their callers import them from here too.
from telebill.db.month_views import EMAIL_DELIVERED as EMAIL_DELIVERED
from telebill.db.month_views import MONTHLY as MONTHLY
from telebill.db.month_views import SMS_DELIVERED as SMS_DELIVERED
from telebill.db.month_views import MonthStatus as MonthStatus
from telebill.db.month_views import month_status as month_status
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.send_window import Window, quiet_hours
from telebill.domain.statuses import DELIVERED_PREFIX, RESEND_PREFIX, NotificationStatus, is_purpose


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


# A delivered status, whichever channel (one that no longer exists included): never sent again.
IS_DELIVERED = f"starts_with(n.status, '{DELIVERED_PREFIX}')"


@dataclass(frozen=True)
class Attempt:
    bill_id: int
    purpose: str
    channel: str
    attempt: int
    outcome: str  # an AttemptOutcome
    error: str | None = None
    template_code: str | None = None
    template_version: int | None = None
    message_kind: str | None = None  # EMAIL, SMS, LMS
    latency_ms: int | None = None
    # By the installation's clock (TELEBILL_CLOCK_OFFSET_S): when the send started, so that it
    # can be checked against the windows that held then. None: the database's clock.
    at: datetime | None = None


async def delivered_keys(conn: DbConn, keys: Sequence[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of these (bill_id, purpose) were delivered already, on any channel."""
    return set(await _statuses_where(conn, keys, IS_DELIVERED))


async def ended_keys(conn: DbConn, keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """(bill_id, purpose) → status, for those delivered on any channel or dead-lettered."""
    dead = f"n.status = '{NotificationStatus.DEAD_LETTER}'"
    return await _statuses_where(conn, keys, f"({IS_DELIVERED} OR {dead})")


async def _statuses_where(
    conn: DbConn, keys: Sequence[tuple[int, str]], condition: str
) -> dict[tuple[int, str], str]:
    if not keys:
        return {}
    rows = await conn.fetch(
        "SELECT n.bill_id, n.purpose, n.status FROM notification n "
        "JOIN unnest($1::bigint[], $2::text[]) AS k(bill_id, purpose) "
        f"ON n.bill_id = k.bill_id AND n.purpose = k.purpose WHERE {condition}",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["bill_id"], r["purpose"]): r["status"] for r in rows}


async def _ensure_notifications(conn: DbConn, keys: Sequence[tuple[int, str]]) -> None:
    """A notification row for each key whose bill exists (a dead letter may name one that
    does not)."""
    await conn.execute(
        "INSERT INTO notification (bill_id, purpose) "
        "SELECT DISTINCT k.bill_id, k.purpose "
        "FROM unnest($1::bigint[], $2::text[]) AS k(bill_id, purpose) "
        "JOIN bill b ON b.id = k.bill_id ON CONFLICT DO NOTHING",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


async def record_attempts(conn: DbConn, attempts: Sequence[Attempt]) -> set[tuple[int, str]]:
    """Write every attempt; mark the first success of each key delivered. Returns the keys this
    call delivered (a key delivered before is not among them)."""
    if not attempts:
        return set()
    keys = [(a.bill_id, a.purpose) for a in attempts]
    sent = [a for a in attempts if AttemptOutcome(a.outcome).delivered]
    async with conn.transaction():
        await _ensure_notifications(conn, keys)
        firsts: set[tuple[int, str]] = set()
        if sent:
            rows = await conn.fetch(
                f"""
                UPDATE notification n  -- the status is delivered_status(channel)
                SET status = '{DELIVERED_PREFIX}' || upper(s.channel), channel = s.channel,
                    template_version = s.version, delivered_at = now()
                FROM (SELECT DISTINCT ON (bill_id, purpose) *
                      FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[])
                           AS u(bill_id, purpose, channel, version)) s
                WHERE n.bill_id = s.bill_id AND n.purpose = s.purpose
                  AND NOT {IS_DELIVERED}
                RETURNING n.bill_id, n.purpose
                """,
                [a.bill_id for a in sent],
                [a.purpose for a in sent],
                [a.channel for a in sent],
                [a.template_version for a in sent],
            )
            firsts = {(r["bill_id"], r["purpose"]) for r in rows}
        await conn.execute(
            """
            INSERT INTO delivery_attempt (notification_id, channel, attempt, outcome, error,
                template_code, template_version, message_kind, latency_ms, at)
            SELECT n.id, a.channel, a.attempt, a.outcome, a.error, a.code, a.version, a.kind, a.ms,
                   coalesce(a.at, now())
            FROM unnest($1::bigint[], $2::text[], $3::text[], $4::smallint[], $5::text[],
                        $6::text[], $7::text[], $8::int[], $9::text[], $10::int[],
                        $11::timestamptz[])
                 AS a(bill_id, purpose, channel, attempt, outcome, error, code, version, kind, ms,
                      at)
            JOIN notification n ON n.bill_id = a.bill_id AND n.purpose = a.purpose
            """,
            [a.bill_id for a in attempts],
            [a.purpose for a in attempts],
            [a.channel for a in attempts],
            [a.attempt for a in attempts],
            [a.outcome for a in attempts],
            [a.error for a in attempts],
            [a.template_code for a in attempts],
            [a.template_version for a in attempts],
            [a.message_kind for a in attempts],
            [a.latency_ms for a in attempts],
            [a.at for a in attempts],
        )
    return firsts


class DeadLetterRow(Protocol):
    """What a dead letter keeps (telebill.messaging.dead_letter.DeadLetterRecord)."""

    @property
    def key(self) -> str: ...
    @property
    def event(self) -> dict[str, Any]: ...
    @property
    def reason(self) -> str: ...
    @property
    def bill_id(self) -> int | None: ...
    @property
    def purpose(self) -> str | None: ...
    @property
    def first_error(self) -> str | None: ...
    @property
    def last_error(self) -> str | None: ...


async def record_dead_letters(conn: DbConn, letters: Sequence[DeadLetterRow]) -> int:
    """Keep each dead letter with its reason, once per key (a letter recorded again is not a
    second row); its notification, when its bill exists and it was not delivered meanwhile,
    becomes DEAD_LETTER. Returns how many letters were new."""
    if not letters:
        return 0
    async with conn.transaction():
        new = await conn.fetch(
            """
            INSERT INTO dead_letter (letter_key, event, reason, first_error, last_error, bill_id)
            SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::text[], $5::text[],
                                 $6::bigint[])
            ON CONFLICT (letter_key) DO NOTHING RETURNING id
            """,
            [d.key for d in letters],
            [json.dumps(d.event, ensure_ascii=False) for d in letters],
            [d.reason for d in letters],
            [d.first_error for d in letters],
            [d.last_error for d in letters],
            [d.bill_id for d in letters],
        )
        # a letter from another producer may name no purpose of ours: no notification is its
        keyed = [
            (d.bill_id, d.purpose)
            for d in letters
            if d.bill_id and d.purpose and is_purpose(d.purpose)
        ]
        if keyed:
            await _ensure_notifications(conn, keyed)
            await conn.execute(
                f"UPDATE notification n SET status = '{NotificationStatus.DEAD_LETTER}' "
                "FROM unnest($1::bigint[], $2::text[]) AS k(bill_id, purpose) "
                "WHERE n.bill_id = k.bill_id AND n.purpose = k.purpose "
                f"AND NOT {IS_DELIVERED}",
                [k[0] for k in keyed],
                [k[1] for k in keyed],
            )
    return len(new)


@dataclass(frozen=True)
class Recipient:
    address: str | None  # e-mail, phone or push token, by channel (None: the member has none)
    quiet_hours: Window | None  # in the member's zone


ADDRESS_COLUMNS = frozenset({"email", "phone", "push_token"})


async def load_recipients(
    conn: DbConn, bill_ids: Sequence[int], column: str
) -> dict[int, Recipient]:
    """bill id → where to send it (the member's `column`, the channel's address_field) and the
    member's quiet hours, for a batch."""
    if column not in ADDRESS_COLUMNS:
        raise ValueError(f"no address column {column!r}")
    rows = await conn.fetch(
        f"SELECT b.id, m.{column} AS address, m.quiet_start, m.quiet_end, m.timezone "
        "FROM bill b JOIN member m ON m.id = b.member_id WHERE b.id = ANY($1::bigint[])",
        list(bill_ids),
    )
    return {
        r["id"]: Recipient(
            r["address"],
            quiet_hours(r["quiet_start"], r["quiet_end"], r["timezone"]),
        )
        for r in rows
    }


@dataclass(frozen=True)
class StoredDeadLetter:
    id: int
    bill_id: int | None
    reason: str
    first_error: str | None
    last_error: str | None
    event: dict[str, Any]
    created_at: Any
    replayed_at: Any


MAX_PAGE = 500  # dead letters in one page, whatever is asked


async def list_dead_letters(
    conn: DbConn,
    include_replayed: bool = False,
    after_id: int = 0,
    limit: int = MAX_PAGE,
    ids: Sequence[int] | None = None,
) -> list[StoredDeadLetter]:
    """One page, in id order from after `after_id` (keyset: as fast on the last page as on
    the first), of at most MAX_PAGE letters; only `ids` when given."""
    rows = await conn.fetch(
        "SELECT id, bill_id, reason, first_error, last_error, event, created_at, replayed_at "
        "FROM dead_letter WHERE (replayed_at IS NULL OR $1) AND id > $2 "
        "AND ($4::bigint[] IS NULL OR id = ANY($4::bigint[])) ORDER BY id LIMIT $3",
        include_replayed,
        after_id,
        max(1, min(limit, MAX_PAGE)),
        None if ids is None else list(ids),
    )
    return [
        StoredDeadLetter(
            r["id"],
            r["bill_id"],
            r["reason"],
            r["first_error"],
            r["last_error"],
            json.loads(r["event"]),
            r["created_at"],
            r["replayed_at"],
        )
        for r in rows
    ]


async def mark_replayed(conn: DbConn, ids: Sequence[int]) -> None:
    await conn.execute(
        "UPDATE dead_letter SET replayed_at = now() WHERE id = ANY($1::bigint[])", list(ids)
    )


@dataclass(frozen=True)
class Published:
    bill_id: int
    purpose: str
    workflow_id: str  # told the outcome when there is one
    send_at: datetime


async def mark_published(conn: DbConn, rows: Sequence[Published]) -> None:
    """Record that these notifications were published and which workflow waits for each.
    An outcome recorded already (a re-publish after a crash) is reported again to that workflow."""
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO notification (bill_id, purpose, workflow_id, send_at, published_at)
        SELECT b, p, w, s, now()
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS u(b, p, w, s)
        ON CONFLICT (bill_id, purpose) DO UPDATE
        SET workflow_id = excluded.workflow_id, send_at = excluded.send_at,
            published_at = excluded.published_at, reported_at = NULL, plan_problem = NULL
        """,
        [r.bill_id for r in rows],
        [r.purpose for r in rows],
        [r.workflow_id for r in rows],
        [r.send_at for r in rows],
    )


# The outcome outbox (telebill/delivery/outcomes.py reports what these claim).


async def claim_unreported(conn: DbConn, grace_s: float, limit: int) -> list[asyncpg.Record]:
    """Lock (SKIP LOCKED: every consumer process may run a reporter) up to `limit` ended
    notifications a workflow waits on and that were not reported, leaving those published less
    than `grace_s` ago to their activity. Call inside a transaction, then `mark_reported_ids`."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT id, bill_id, purpose, status, channel, workflow_id,
               coalesce(delivered_at, now()) AS at
        FROM notification
        WHERE workflow_id IS NOT NULL AND reported_at IS NULL
          AND status <> '{NotificationStatus.PENDING}'
          AND (published_at IS NULL OR published_at < now() - make_interval(secs => $2))
        ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
        """,
        limit,
        grace_s,
    )
    return rows


async def mark_reported_ids(conn: DbConn, ids: Sequence[int]) -> None:
    await conn.execute(
        "UPDATE notification SET reported_at = now() WHERE id = ANY($1::bigint[])", list(ids)
    )


async def next_report_in(conn: DbConn, grace_s: float) -> float | None:
    """Seconds until the earliest ended notification still left to its activity becomes the
    reporter's (the activity usually takes it well before), None when there is none."""
    wait: float | None = await conn.fetchval(
        f"""
        SELECT extract(epoch FROM min(published_at) + make_interval(secs => $1) - now())
        FROM notification
        WHERE workflow_id IS NOT NULL AND reported_at IS NULL
          AND status <> '{NotificationStatus.PENDING}'
          AND published_at >= now() - make_interval(secs => $1)
        """,
        grace_s,
    )
    return None if wait is None else max(float(wait), 0.0)


async def mark_reported(conn: DbConn, bill_id: int, purpose: str) -> None:
    await conn.execute(
        "UPDATE notification SET reported_at = now() "
        "WHERE bill_id = $1 AND purpose = $2 AND reported_at IS NULL",
        bill_id,
        purpose,
    )


# Events held by a send window (telebill/delivery/deferred.py releases them).


@dataclass(frozen=True)
class DeferredRow:
    bill_id: int
    purpose: str
    topic: str
    event: str  # the event's JSON, as it was stored
    due_at: datetime
    reason: str


async def defer_events(conn: DbConn, rows: Sequence[DeferredRow]) -> None:
    """Store (or move) each event until its due time; one statement for the batch."""
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO deferred_event (bill_id, purpose, topic, event, due_at, reason)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[],
                             $5::timestamptz[], $6::text[])
        ON CONFLICT (bill_id, purpose) DO UPDATE
        SET topic = excluded.topic, event = excluded.event, due_at = excluded.due_at,
            reason = excluded.reason
        """,
        [d.bill_id for d in rows],
        [d.purpose for d in rows],
        [d.topic for d in rows],
        [d.event for d in rows],
        [d.due_at for d in rows],
        [d.reason for d in rows],
    )


async def claim_due_deferred(conn: DbConn, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Lock (SKIP LOCKED: every consumer process may run a releaser) up to `limit` events due
    by `now`, earliest first: bill_id, purpose, topic, event. Call inside a transaction, then
    `forget_deferred` once they are published."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT bill_id, purpose, topic, event FROM deferred_event WHERE due_at <= $1 "
        "ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return rows


async def forget_deferred(conn: DbConn, keys: Sequence[tuple[int, str]]) -> None:
    await conn.execute(
        "DELETE FROM deferred_event d USING unnest($1::bigint[], $2::text[]) AS k(b, p) "
        "WHERE d.bill_id = k.b AND d.purpose = k.p",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


async def next_due(conn: DbConn) -> datetime | None:
    due: datetime | None = await conn.fetchval("SELECT min(due_at) FROM deferred_event")
    return due


# The simulated providers' idempotency keys (telebill/channels/simulated.py).


async def claim_provider_keys(conn: DbConn, channel: str, keys: Sequence[str]) -> set[str]:
    """The keys of `keys` the channel's provider accepts now (never seen before); a key seen
    before counts one more refusal. One statement for the burst."""
    rows = await conn.fetch(
        """
        WITH k AS (SELECT unnest($2::text[]) AS key),
        new AS (
            INSERT INTO provider_message (channel, idempotency_key)
            SELECT $1, key FROM k ON CONFLICT DO NOTHING RETURNING idempotency_key
        ),
        seen AS (
            UPDATE provider_message p SET refusals = p.refusals + 1 FROM k
            WHERE p.channel = $1 AND p.idempotency_key = k.key
            RETURNING p.idempotency_key
        )
        SELECT idempotency_key FROM new
        """,
        channel,
        list(keys),
    )
    return {r["idempotency_key"] for r in rows}
