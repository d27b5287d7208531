"""The notifications aggregate's delivery records: the consumers' attempts, written in batches
and idempotent (the delivery key is (bill_id, purpose): the `notification` row, whose status
moves from PENDING to DELIVERED_<CHANNEL> at most once, a second success for the same key
being recorded as an attempt that changes nothing); where a batch's bills are sent; the rows
dispatch published and the workflow each waits on; the outcome outbox the reporter claims; the
providers' idempotency keys (`provider_message`: the simulated providers', and the keys the
SMTP relay accepted).

Tables: `notification` (delivered, published, reported), `delivery_attempt`, `provider_message`.
The plans are `notify_store.py`'s, the dead letters `dead_letter_store.py`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from telebill.db.connect import DbConn
from telebill.db.delivery_key import DELIVERY_KEY
from telebill.db.reference_checks import one_plan_per_reference_check
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.send_window import Window, quiet_hours
from telebill.domain.statuses import DELIVERED_PREFIX, NotificationStatus

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


async def ensure_notifications(conn: DbConn, keys: Sequence[tuple[int, str]]) -> None:
    """A notification row for each key whose bill exists (a dead letter may name one that
    does not): an attempt or a dead letter is recorded against it."""
    await conn.execute(
        "INSERT INTO notification (billing_month, bill_id, purpose) "
        "SELECT DISTINCT b.billing_month, k.bill_id, k.purpose "
        "FROM unnest($1::bigint[], $2::text[]) AS k(bill_id, purpose) "
        "JOIN bill b ON b.id = k.bill_id ORDER BY k.bill_id, k.purpose "  # one lock order
        "ON CONFLICT DO NOTHING",
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
        await one_plan_per_reference_check(conn)
        await ensure_notifications(conn, keys)
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
            INSERT INTO delivery_attempt (billing_month, notification_id, channel, attempt,
                outcome, error, template_code, template_version, message_kind, latency_ms, at)
            SELECT n.billing_month, n.id, a.channel, a.attempt, a.outcome, a.error, a.code,
                   a.version, a.kind, a.ms, coalesce(a.at, now())
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
        f"""
        INSERT INTO notification (billing_month, bill_id, purpose, workflow_id, send_at,
            published_at)
        SELECT bill.billing_month, b, p, w, s, now()
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS u(b, p, w, s)
        JOIN bill ON bill.id = u.b
        ORDER BY u.b, u.p  -- one lock order for writers at once (record_plans)
        ON CONFLICT {DELIVERY_KEY} DO UPDATE
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


async def mark_reported(conn: DbConn, keys: Sequence[tuple[int, str]]) -> None:
    """(bill_id, purpose) handed to their workflows by the activities waiting on them: the
    reporter need not signal them."""
    await conn.execute(
        "UPDATE notification n SET reported_at = now() "
        "FROM unnest($1::bigint[], $2::text[]) AS k(bill_id, purpose) "
        "WHERE n.bill_id = k.bill_id AND n.purpose = k.purpose AND n.reported_at IS NULL",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


# The providers' idempotency keys (telebill/channels/simulated.py, smtp_keys.py).


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


async def claim_sending_keys(
    conn: DbConn, channel: str, keys: Sequence[str], abandoned_after_s: float
) -> dict[str, str]:
    """Claims the keys of `keys` for a send that starts now (one statement for the burst):
    each key of the answer is `claimed` (never seen, or claimed longer than
    `abandoned_after_s` ago: its sender died mid-send) or `accepted` (the relay took it
    before: one more refusal counted). A key not in the answer is being sent by another
    sender, including one that claimed it while this statement ran (its row, inserted after
    this statement's snapshot, is neither inserted again nor seen by the updates)."""
    rows = await conn.fetch(
        """
        WITH k AS (SELECT DISTINCT unnest($2::text[]) AS key),
        new AS (
            INSERT INTO provider_message (channel, idempotency_key, sending_since)
            SELECT $1, key, now() FROM k ON CONFLICT DO NOTHING RETURNING idempotency_key
        ),
        abandoned AS (
            -- a concurrent claim of the same row is re-checked after its commit: one wins
            UPDATE provider_message p SET sending_since = now(), accepted_at = now() FROM k
            WHERE p.channel = $1 AND p.idempotency_key = k.key
              AND p.sending_since < now() - make_interval(secs => $3)
            RETURNING p.idempotency_key
        ),
        seen AS (
            UPDATE provider_message p SET refusals = p.refusals + 1 FROM k
            WHERE p.channel = $1 AND p.idempotency_key = k.key AND p.sending_since IS NULL
            RETURNING p.idempotency_key
        )
        SELECT idempotency_key, 'claimed' AS state FROM new
        UNION ALL SELECT idempotency_key, 'claimed' FROM abandoned
        UNION ALL SELECT idempotency_key, 'accepted' FROM seen
        """,
        channel,
        list(keys),
        abandoned_after_s,
    )
    return {r["idempotency_key"]: r["state"] for r in rows}


async def accept_sending_keys(conn: DbConn, channel: str, keys: Sequence[str]) -> set[str]:
    """The relay took the messages of `keys`: their claims become accepted keys (one
    statement). The keys so marked."""
    rows = await conn.fetch(
        "UPDATE provider_message SET sending_since = NULL, accepted_at = now() "
        "WHERE channel = $1 AND idempotency_key = ANY($2::text[]) AND sending_since IS NOT NULL "
        "RETURNING idempotency_key",
        channel,
        list(keys),
    )
    return {r["idempotency_key"] for r in rows}


async def release_sending_keys(conn: DbConn, channel: str, keys: Sequence[str]) -> set[str]:
    """The messages of `keys` were not taken (or may not have been): their claims are dropped
    so that a retry may send (one statement; an accepted key is never dropped). The keys
    released."""
    rows = await conn.fetch(
        "DELETE FROM provider_message "
        "WHERE channel = $1 AND idempotency_key = ANY($2::text[]) AND sending_since IS NOT NULL "
        "RETURNING idempotency_key",
        channel,
        list(keys),
    )
    return {r["idempotency_key"] for r in rows}
