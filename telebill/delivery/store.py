"""Idempotent delivery records, written in batches (one transaction for many attempts).

The delivery key is (bill_id, purpose): the `notification` row. Its status moves from PENDING to
DELIVERED_<CHANNEL> (EMAIL, SMS, ALIMTALK, …) or DEAD_LETTER at most once to a delivered state;
a second success for the same key (a redelivered Kafka event) is recorded as an attempt but
changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telebill.db.connect import DbConn
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.send_window import Window, quiet_hours
from telebill.domain.statuses import DELIVERED_PREFIX, NotificationStatus, is_purpose
from telebill.messaging.dead_letter import DeadLetterRecord

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


async def record_dead_letters(conn: DbConn, letters: Sequence[DeadLetterRecord]) -> int:
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
