"""Archive and retention: a settled, delivered month written to Parquet with its checksums and
manifest, read back, then its partitions detached and dropped; a month restored from its files;
the months past the online span archived for the retention Schedule.

The CLI (through telebill/service/archive.py) and the retention activity call these. Files are
parquet_month.py's, the database's side telebill/db/archive_store.py's.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from telebill.archive.parquet_month import (
    ArchiveDamaged,
    Manifest,
    TableWriter,
    month_dir,
    read_batches,
    read_manifest,
    sync,
    verify_table,
    write_manifest,
)
from telebill.contracts.retention import RetentionResult
from telebill.db import archive_store as store
from telebill.db.connect import DbConn
from telebill.db.partition_store import open_month
from telebill.db.tally_store import reset_month
from telebill.domain.month import month_of, shift_month
from telebill.errors import TelebillError

BATCH = 50_000  # rows per read from PostgreSQL and per Parquet row group


@dataclass(frozen=True)
class MonthArchived:
    month: str
    location: str
    rows: dict[str, int]
    bytes: int
    seconds: float


def archive_root(configured: Path | None, stack_dir: Path) -> Path:
    return configured if configured is not None else stack_dir / "archive"


async def archive_month(
    conn: DbConn,
    month: date,
    root: Path,
    on_table: Callable[[str, int], None] = lambda table, rows: None,
) -> MonthArchived:
    """Write the month to `root/YYYY-MM/`, read it back, record it, drop its partitions."""
    async with store.month_held(conn, month) as held:
        if not held:
            raise TelebillError(f"{month:%Y-%m} is being archived or restored by another process")
        return await _archive_month(conn, month, root, on_table)


async def _archive_month(
    conn: DbConn, month: date, root: Path, on_table: Callable[[str, int], None]
) -> MonthArchived:
    started = time.perf_counter()
    earlier = await store.archives(conn, month)
    if earlier and earlier[0].dropped_at is not None and earlier[0].restored_at is None:
        # its partitions were made again without its rows (a failed restore, a settlement run
        # again): archiving them would replace the month's only archive with nothing
        raise TelebillError(
            f"{month:%Y-%m} is archived at {earlier[0].location} and was not restored: "
            f"`telebill archive restore --month {month:%Y-%m}` first"
        )
    why = await store.unfinished(conn, month)
    if why:
        raise TelebillError(f"{month:%Y-%m} is not archived: {why}")
    revision = await store.schema_revision(conn)
    final = month_dir(root, month)
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    manifest = Manifest(f"{month:%Y-%m}", revision, datetime.now(UTC).isoformat())
    # One snapshot for every table: the files agree with each other and with the counts.
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        for table in store.MONTH_TABLES:
            columns = await store.columns_of(conn, table)
            writer = TableWriter(partial, table, [(c.name, c.type) for c in columns])
            async for rows in store.month_rows(conn, table, month, columns, BATCH):
                await asyncio.to_thread(writer.add, [tuple(r.values()) for r in rows])
                on_table(table, writer.rows)  # a heartbeat per batch, not per table
            manifest.tables[table] = await asyncio.to_thread(writer.close)
        counts = await store.month_counts(conn, month)
    for table, entry in manifest.tables.items():
        await asyncio.to_thread(verify_table, partial, entry)
        if entry.rows != counts[table]:
            raise ArchiveDamaged(
                f"{table}: {entry.rows} rows archived, {counts[table]} in the month"
            )
    digest = write_manifest(partial, manifest)
    if final.exists():  # archived before, restored since: the new files replace the old
        shutil.rmtree(final)
    partial.rename(final)
    sync(final.parent)
    size = sum(e.bytes for e in manifest.tables.values())
    await store.record_archive(conn, month, str(final), digest, counts, size)
    await store.drop_month(conn, month)
    return MonthArchived(f"{month:%Y-%m}", str(final), counts, size, time.perf_counter() - started)


async def archive_before(
    conn: DbConn,
    before: date,
    root: Path,
    on_month: Callable[[MonthArchived], None] = lambda done: None,
) -> list[MonthArchived]:
    """Every month online before `before`, oldest first; a month that cannot be archived yet
    (still settling or delivering) stops the run with the reason, the months before it done."""
    done = []
    for month in await store.online_months(conn):
        if month >= before:
            break
        archived = await archive_month(conn, month, root)
        on_month(archived)
        done.append(archived)
    return done


async def restore_month(conn: DbConn, month: date, root: Path) -> dict[str, int]:
    """Put an archived month back from its files, checked against their manifest (and the
    manifest against the digest the database kept, when it still has the month's record)."""
    async with store.month_held(conn, month) as held:
        if not held:
            raise TelebillError(f"{month:%Y-%m} is being archived or restored by another process")
        return await _restore_month(conn, month, root)


def archive_folder(recorded: str | None, root: Path, month: date) -> Path:
    """Where a month's files are: where they were written (the record's location), else under
    today's archive folder (moved there since, or brought from another installation). The
    manifest's digest, checked against the record, says whether they are the ones archived."""
    if recorded is not None and Path(recorded).is_dir():
        return Path(recorded)
    return month_dir(root, month)


async def _restore_month(conn: DbConn, month: date, root: Path) -> dict[str, int]:
    recorded = await store.archives(conn, month)
    folder = archive_folder(recorded[0].location if recorded else None, root, month)
    manifest, digest = read_manifest(folder)
    if recorded and recorded[0].manifest_sha256 != digest:
        raise ArchiveDamaged(f"{folder}'s manifest is not the one archived (its SHA-256 differs)")
    if manifest.month != f"{month:%Y-%m}":
        raise ArchiveDamaged(f"{folder} holds {manifest.month}, not {month:%Y-%m}")
    if (await store.month_counts(conn, month))["bill"]:
        raise TelebillError(f"{month:%Y-%m} is online: its bills are in the database")
    for table in store.MONTH_TABLES:
        entry = manifest.tables[table]
        now = [(c.name, c.type) for c in await store.columns_of(conn, table)]
        if [tuple(c) for c in entry.columns] != now:
            raise TelebillError(
                f"{table}'s columns changed since {month:%Y-%m} was archived: restore it with the "
                f"version of telebill at schema {manifest.schema_revision}, then migrate"
            )
        await asyncio.to_thread(verify_table, folder, entry)
    await open_month(conn, month)
    async with conn.transaction():
        await reset_month(conn, month)  # its rows are counted again as they go back
        for table in store.MONTH_TABLES:
            entry = manifest.tables[table]
            names = [c[0] for c in entry.columns]
            for batch in read_batches(folder, entry, BATCH):
                rows = batch.to_pylist()
                await store.restore_rows(conn, table, names, [tuple(r.values()) for r in rows])
        counts = await store.month_counts(conn, month)
        expected = {t: e.rows for t, e in manifest.tables.items()}
        if counts != expected:
            raise ArchiveDamaged(f"restored {counts}, the manifest says {expected}")
        await store.mark_restored(conn, month)
    return counts


def months_to_archive(online: list[date], current: date, months_online: int) -> list[date]:
    """The online months older than the `months_online` billing months before `current`."""
    first_kept = shift_month(current, -months_online)
    return [m for m in online if m < first_kept]


async def expire_archives(conn: DbConn, root: Path, current: date, keep_years: int) -> list[str]:
    """Remove the archives of the months more than `keep_years` before `current` (their files
    and their record); a month restored since is online, not an archive, and stays."""
    limit = shift_month(current, -12 * keep_years)
    gone = []
    for record in await store.archives(conn):
        if record.billing_month < limit and record.restored_at is None:
            folder = archive_folder(record.location, root, record.billing_month)
            shutil.rmtree(folder, ignore_errors=True)
            await store.forget_archive(conn, record.billing_month)
            gone.append(f"{record.billing_month:%Y-%m}")
    return gone


async def run_retention(
    conn: DbConn,
    now: datetime,
    time_zone: str,
    *,
    months_online: int,
    keep_years: int,
    root: Path,
    on_table: Callable[[str, int], None] = lambda table, rows: None,
) -> RetentionResult:
    """What the retention Schedule does each month: the months past the online span archived
    (oldest first), the archives past the years kept removed."""
    current = month_of(now, time_zone)
    due = months_to_archive(await store.online_months(conn), current, months_online)
    done = [await archive_month(conn, month, root, on_table) for month in due]
    return RetentionResult(
        archived=[d.month for d in done],
        rows=sum(sum(d.rows.values()) for d in done),
        bytes=sum(d.bytes for d in done),
        expired=await expire_archives(conn, root, current, keep_years),
    )
