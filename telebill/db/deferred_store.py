"""The notifications aggregate's deferred events (`deferred_event`): events a send window held,
stored until their due time and claimed by the releaser (telebill/delivery/deferred.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from telebill.db.connect import DbConn


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
