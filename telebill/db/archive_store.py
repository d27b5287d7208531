"""Archived months (`month_archive`) and what archiving reads and writes of a month's partitions:
its rows a batch at a time, their number, the guarded drop (`telebill_drop_month`, migration
0018), and the rows of a restored month put back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from telebill.db.connect import DbConn
from telebill.db.reference_checks import one_plan_per_reference_check, planners_choice_again
from telebill.domain.statuses import NotificationStatus, SettlementStatus

# The tables partitioned by month (migration 0017), parents before children: restored in this
# order (a child's foreign key needs its parent's row), dropped in the reverse.
MONTH_TABLES = (
    "bill",
    "bill_item",
    "notification",
    "delivery_attempt",
    "usage_monthly",
    "settlement_error",
)
# What each table's rows are read in: its key, so an archive of the same rows is the same file.
ORDER = {
    "bill": "id",
    "bill_item": "id",
    "notification": "id",
    "delivery_attempt": "id",
    "usage_monthly": "member_id, subscription_id",
    "settlement_error": "member_id",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # PostgreSQL's name for it (format_type): bigint, text, jsonb, …


@asynccontextmanager
async def month_held(conn: DbConn, month: date) -> AsyncIterator[bool]:
    """Hold the month against a second archiver or restorer (a CLI run beside the Schedule's):
    yields False, holding nothing, when another session has it. A session lock: the archive
    spans several transactions, and the lock goes with the connection if the process dies."""
    key = month.year * 100 + month.month
    held = bool(
        await conn.fetchval("SELECT pg_try_advisory_lock(hashtext('telebill_archive'), $1)", key)
    )
    try:
        yield held
    finally:
        if held:
            await conn.execute("SELECT pg_advisory_unlock(hashtext('telebill_archive'), $1)", key)


async def columns_of(conn: DbConn, table: str) -> list[Column]:
    rows = await conn.fetch(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        table,
    )
    return [Column(r[0], r[1]) for r in rows]


async def month_rows(
    conn: DbConn, table: str, month: date, columns: Sequence[Column], batch: int
) -> AsyncIterator[list[asyncpg.Record]]:
    """The month's rows of `table` in key order, `batch` at a time (a server-side cursor, so
    inside the caller's transaction: memory stays flat whatever the month's size). JSON columns
    come as their text."""
    if table not in ORDER:
        raise ValueError(f"not a month table: {table!r}")
    listed = ", ".join(f"{c.name}::text" if c.type == "jsonb" else c.name for c in columns)
    cursor = await conn.cursor(
        f"SELECT {listed} FROM {table} WHERE billing_month = $1 ORDER BY {ORDER[table]}", month
    )
    while rows := await cursor.fetch(batch):
        yield rows


async def schema_revision(conn: DbConn) -> str:
    """The migration the database is at (an archive names it: its columns are that schema's)."""
    revision: str = await conn.fetchval("SELECT version_num FROM alembic_version")
    return revision


async def month_counts(conn: DbConn, month: date) -> dict[str, int]:
    """Rows of the month in each of its tables."""
    return {
        t: int(await conn.fetchval(f"SELECT count(*) FROM {t} WHERE billing_month = $1", month))
        for t in MONTH_TABLES
    }


async def online_months(conn: DbConn) -> list[date]:
    """The months whose partitions are in the database (their bills' partition names them)."""
    rows = await conn.fetch(
        "SELECT to_date(substr(c.relname, 6), 'YYYY_MM') AS month FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'bill'::regclass ORDER BY 1"
    )
    return [r["month"] for r in rows]


async def unfinished(conn: DbConn, month: date) -> str | None:
    """Why the month cannot be archived yet (its settlement or a notification still going),
    None when it can."""
    status = await conn.fetchval("SELECT status FROM settlement WHERE billing_month = $1", month)
    if status != SettlementStatus.COMPLETED:
        return f"its settlement is {status or 'not started'}"
    pending, unreported, deferred = await conn.fetchrow(  # type: ignore[misc]
        "SELECT count(*) FILTER (WHERE status = $2),"
        " count(*) FILTER (WHERE status <> $2 AND workflow_id IS NOT NULL"
        "                  AND reported_at IS NULL),"
        " (SELECT count(*) FROM deferred_event d JOIN bill b ON b.id = d.bill_id"
        "  WHERE b.billing_month = $1)"
        " FROM notification WHERE billing_month = $1",
        month,
        NotificationStatus.PENDING.value,
    )
    if pending:
        return f"{pending} of its notifications are still to be delivered"
    if unreported:
        return f"{unreported} outcomes are still to be reported to their workflows"
    if deferred:
        return f"{deferred} of its events wait out a send window"
    return None


@dataclass(frozen=True)
class ArchiveRecord:
    billing_month: date
    location: str
    manifest_sha256: str
    rows: dict[str, int]
    bytes: int
    archived_at: datetime
    verified_at: datetime | None
    dropped_at: datetime | None
    restored_at: datetime | None


async def record_archive(
    conn: DbConn, month: date, location: str, manifest_sha256: str, rows: dict[str, int], size: int
) -> None:
    """The month's archive is written and read back (verified); a month archived again (after a
    restore) replaces its record."""
    await conn.execute(
        """
        INSERT INTO month_archive (billing_month, location, manifest_sha256, rows, bytes,
                                   verified_at)
        VALUES ($1, $2, $3, $4::jsonb, $5, now())
        ON CONFLICT (billing_month) DO UPDATE
        SET location = excluded.location, manifest_sha256 = excluded.manifest_sha256,
            rows = excluded.rows, bytes = excluded.bytes, archived_at = now(),
            verified_at = now(), dropped_at = NULL, restored_at = NULL
        """,
        month,
        location,
        manifest_sha256,
        json.dumps(rows),
        size,
    )


async def drop_month(conn: DbConn, month: date) -> int:
    """Detach and drop the month's partitions (the database refuses without a verified archive);
    returns how many were dropped."""
    dropped: int = await conn.fetchval("SELECT telebill_drop_month($1)", month)
    return dropped


async def archives(conn: DbConn, month: date | None = None) -> list[ArchiveRecord]:
    rows = await conn.fetch(
        "SELECT billing_month, location, manifest_sha256, rows::text AS rows, bytes, archived_at,"
        " verified_at, dropped_at, restored_at FROM month_archive"
        " WHERE $1::date IS NULL OR billing_month = $1 ORDER BY billing_month",
        month,
    )
    return [ArchiveRecord(**{**dict(r), "rows": json.loads(r["rows"])}) for r in rows]


async def restore_rows(
    conn: DbConn, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    """Put archived rows back (inside the caller's transaction), their foreign keys checked
    with one plan (reference_checks.py); the caller's counts after it plan as usual."""
    if table not in ORDER:
        raise ValueError(f"not a month table: {table!r}")
    await one_plan_per_reference_check(conn)
    await conn.copy_records_to_table(table, records=records, columns=list(columns))
    await planners_choice_again(conn)


async def forget_archive(conn: DbConn, month: date) -> None:
    """The month's archive is gone (past the years kept)."""
    await conn.execute("DELETE FROM month_archive WHERE billing_month = $1", month)


async def mark_restored(conn: DbConn, month: date) -> None:
    await conn.execute(
        "UPDATE month_archive SET restored_at = now() WHERE billing_month = $1", month
    )
