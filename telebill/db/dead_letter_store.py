"""The notifications aggregate's dead letters (`dead_letter`): kept once per key with their
reason, their notification marked DEAD_LETTER unless delivered meanwhile; listed a page at a
time for the operator, and marked replayed (telebill/delivery/replay.py replays them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from telebill.db.connect import DbConn
from telebill.db.delivery_store import IS_DELIVERED, ensure_notifications
from telebill.db.reference_checks import one_plan_per_reference_check
from telebill.domain.statuses import NotificationStatus, is_purpose


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
        await one_plan_per_reference_check(conn)
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
            await ensure_notifications(conn, keyed)
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
