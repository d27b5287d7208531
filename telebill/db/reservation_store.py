"""Reserved sends (예약 발송) in PostgreSQL: the `reserved_send` table.

A reservation is RESERVED until its dispatch has started the workflows (DISPATCHED); one whose
dispatch failed keeps RESERVED with the reason, and the daily dispatch starts it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from telebill.db.connect import DbConn
from telebill.domain.statuses import ReservationStatus
from telebill.errors import NotFound, TelebillError

SHOWN_UNKNOWN = 5


@dataclass(frozen=True)
class Reservation:
    id: int
    send_at: datetime
    billing_month: date
    member_ids: list[int] | None  # None: the whole month
    status: ReservationStatus
    created_at: datetime
    last_error: str | None


COLUMNS = "id, send_at, billing_month, member_ids, status, created_at, last_error"


def _reservation(r: asyncpg.Record) -> Reservation:
    return Reservation(
        r["id"],
        r["send_at"],
        r["billing_month"],
        list(r["member_ids"]) if r["member_ids"] else None,
        ReservationStatus(r["status"]),
        r["created_at"],
        r["last_error"],
    )


async def add_reservation(
    conn: DbConn, send_at: datetime, month: date, members: Sequence[int] | None, now: datetime
) -> int:
    """Store a reservation; refused for an instant that has passed or members that do not
    exist (nothing is stored then)."""
    if send_at <= now:
        raise TelebillError(
            f"--at {send_at.isoformat()} has passed (now {now.isoformat(timespec='seconds')}); "
            "use `telebill dispatch --now` to send now"
        )
    if members:
        known = await conn.fetch(
            "SELECT id FROM member WHERE id = ANY($1::bigint[])", list(members)
        )
        unknown = sorted(set(members) - {r["id"] for r in known})
        if unknown:
            shown = ", ".join(map(str, unknown[:SHOWN_UNKNOWN]))
            more = (
                f" and {len(unknown) - SHOWN_UNKNOWN} more" if len(unknown) > SHOWN_UNKNOWN else ""
            )
            raise TelebillError(f"no member {shown}{more}")
    found: int = await conn.fetchval(
        "INSERT INTO reserved_send (send_at, billing_month, member_ids) VALUES ($1, $2, $3) "
        "RETURNING id",
        send_at,
        month,
        list(members) if members else None,
    )
    return found


async def add_send_list(conn: DbConn, month: date, members: Sequence[int]) -> int:
    """Keep the members of a "send now" (its dispatch's input refers to this row)."""
    found: int = await conn.fetchval(
        "INSERT INTO send_list (billing_month, member_ids) VALUES ($1, $2) RETURNING id",
        month,
        sorted(set(members)),
    )
    return found


# MemberListRef.kind → its table; only these names reach the SQL.
LIST_TABLES = {"reservation": "reserved_send", "send_list": "send_list"}


async def listed_members(
    conn: DbConn, kind: str, list_id: int, after: int, last: int, limit: int
) -> list[int]:
    """A page of a stored member list, in order: ids in (after, last], at most `limit`."""
    rows = await conn.fetch(
        f"SELECT DISTINCT m FROM {LIST_TABLES[kind]} t, unnest(t.member_ids) AS m "
        "WHERE t.id = $1 AND m > $2 AND m <= $3 ORDER BY m LIMIT $4",
        list_id,
        after,
        last,
        limit,
    )
    return [int(r["m"]) for r in rows]


async def mark_dispatched(conn: DbConn, reservation_id: int) -> None:
    await conn.execute(
        "UPDATE reserved_send SET status = $2, last_error = NULL WHERE id = $1 AND status = $3",
        reservation_id,
        ReservationStatus.DISPATCHED,
        ReservationStatus.RESERVED,
    )


async def mark_dispatch_failed(conn: DbConn, reservation_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE reserved_send SET last_error = $2 WHERE id = $1", reservation_id, error[:1000]
    )


async def undispatched(conn: DbConn) -> list[Reservation]:
    """Reservations whose dispatch has not run yet (it failed, or the process stopped)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM reserved_send WHERE status = $1 ORDER BY id",
        ReservationStatus.RESERVED,
    )
    return [_reservation(r) for r in rows]


async def list_reservations(conn: DbConn) -> list[Reservation]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM reserved_send ORDER BY id DESC")
    return [_reservation(r) for r in rows]


async def cancel_reservation(conn: DbConn, reservation_id: int) -> Reservation:
    r = await conn.fetchrow(
        f"UPDATE reserved_send SET status = $2 WHERE id = $1 AND status <> $2 RETURNING {COLUMNS}",
        reservation_id,
        ReservationStatus.CANCELLED,
    )
    if r is None:
        raise NotFound(f"no active reservation {reservation_id}")
    return _reservation(r)
