"""`telebill archive`: a delivered month goes to Parquet (checked by reading it back) and leaves
the database; restored, it gives the same rows and the same `report --json` as before. The
database itself refuses to drop a month that was not archived, or was written to since."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest

from telebill.archive.months import archive_month, restore_month
from telebill.config import Settings, asyncpg_dsn
from telebill.db import archive_store
from telebill.db.connect import connect
from telebill.db.delivery_store import Attempt, mark_reported_ids, record_attempts
from telebill.db.month_views import month_status, recount_month_status
from telebill.db.partition_store import open_month
from telebill.db.settlement_store import (
    complete_settlement,
    load_products,
    month_totals,
    open_settlement,
    settle_chunk,
)
from telebill.domain.db_roles import DbRole
from telebill.errors import TelebillError
from telebill.month_report.queries import read_storage
from tests.helpers import run_cli
from tests.integration.conftest import Databases
from tests.integration.test_month_partitions import (
    MEMBERS,
    NOV,
    P,
    settle_and_deliver,
    snapshot,
)

DEC = date(2026, 12, 1)


async def a_whole_month(db: asyncpg.Connection, month: date) -> None:
    """Settled (with its settlement record) and every bill's notification ended and reported."""
    await settle_and_deliver(db, month)
    await complete_the_settlement(db, month)
    await end_every_notification(db, month)
    await report_every_outcome(db, month)


async def complete_the_settlement(db: asyncpg.Connection, month: date) -> None:
    sid = f"settlement-{month:%Y-%m}"
    await open_settlement(db, sid, month)
    await settle_chunk(db, month, sid, 1, MEMBERS, await load_products(db, month))
    t = await month_totals(db, sid, month)
    await complete_settlement(
        db,
        sid,
        last_run_bills=t.new_bills,
        last_run_items=t.new_items,
        bills=t.bills,
        items=t.items,
        errors=t.errors,
        amount_due=t.amount_due,
        totals=t.totals,
    )


async def end_every_notification(db: asyncpg.Connection, month: date) -> None:
    pending = await db.fetch(
        "SELECT bill_id FROM notification WHERE billing_month = $1 AND status = 'PENDING'", month
    )
    at = datetime(month.year, month.month, 21, tzinfo=UTC)
    await record_attempts(db, [Attempt(r["bill_id"], P, "sms", 1, "SENT", at=at) for r in pending])


async def report_every_outcome(db: asyncpg.Connection, month: date) -> None:
    """Each outcome handed to its workflow, as the activities waiting on them do."""
    ended = await db.fetch(
        "SELECT id FROM notification WHERE billing_month = $1 AND workflow_id IS NOT NULL", month
    )
    await mark_reported_ids(db, [r["id"] for r in ended])


async def report(env: dict[str, str], month: str) -> dict[str, object]:
    done = await asyncio.to_thread(run_cli, "report", "--month", month, "--json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


async def test_an_archived_month_leaves_the_database_and_comes_back_the_same(
    databases: Databases, tmp_path: Path
) -> None:
    url = await databases.create()
    db = await connect(url)
    env = {"TELEBILL_DATABASE_URL": url, "TELEBILL_ARCHIVE_DIR": str(tmp_path)}
    try:
        await a_whole_month(db, NOV)
        await a_whole_month(db, DEC)
        before = await snapshot(db)
        nov_report = await report(env, "2026-11")
        now = datetime(2027, 1, 5, tzinfo=UTC)
        nov_status = await month_status(db, NOV, now)

        done = await asyncio.to_thread(run_cli, "archive", "--before", "2026-12", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        said = " ".join(done.stdout.split())  # the console wraps a long path at its width
        assert "2026-11:" in said and "partitions dropped" in said
        assert await db.fetchval("SELECT to_regclass('bill_2026_11')") is None
        assert await db.fetchval("SELECT count(*) FROM bill") == MEMBERS  # December's
        # its counts went with its rows (a drop fires no trigger)
        assert (await month_status(db, NOV, now)).bills == 0
        folder = tmp_path / "2026-11"
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["tables"]["bill"]["rows"] == MEMBERS
        assert {p.name for p in folder.iterdir()} == {
            "manifest.json",
            *(f"{t}.parquet" for t in archive_store.MONTH_TABLES),
        }
        gone = await read_storage(db, NOV)  # the month report's storage section
        assert gone.partitions == [] and gone.archive_location == str(folder)
        assert gone.archive_bytes == sum(p.stat().st_size for p in folder.glob("*.parquet"))
        kept = await read_storage(db, DEC)
        assert kept.partitions[0].rows == MEMBERS and kept.table_bytes > 0
        listed = await asyncio.to_thread(run_cli, "archive", "list", env=env)
        assert "online: 2026-12" in listed.stdout and "2026-11" in listed.stdout

        # its partitions made again empty (a settlement run again, a failed restore): archiving
        # them would replace the month's only archive with nothing, so it is refused
        await open_month(db, NOV)
        with pytest.raises(Exception, match="was not restored"):
            await archive_month(db, NOV, tmp_path)
        untouched = json.loads((folder / "manifest.json").read_text())
        assert untouched["tables"]["bill"]["rows"] == MEMBERS  # the archive is as it was
        # an altered file is refused, whichever byte changed, and nothing is restored
        bills = folder / "bill.parquet"
        good = bills.read_bytes()
        bills.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
        refused = await asyncio.to_thread(run_cli, "archive", "restore", "-m", "2026-11", env=env)
        assert refused.returncode == 1 and "altered" in refused.stderr + refused.stdout
        assert "Traceback" not in refused.stderr
        assert await db.fetchval("SELECT count(*) FROM bill") == MEMBERS
        bills.write_bytes(good)

        restored = await asyncio.to_thread(run_cli, "archive", "restore", "-m", "2026-11", env=env)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert await snapshot(db) == before
        assert await report(env, "2026-11") == nov_report
        # its counts were counted again as its rows went back: the same, and true
        assert await month_status(db, NOV, now) == nov_status
        assert nov_status == await recount_month_status(db, NOV, now)
        again = await asyncio.to_thread(run_cli, "archive", "restore", "-m", "2026-11", env=env)
        assert again.returncode == 1 and "is online" in again.stdout + again.stderr

        # archived again after its restore: the new files replace the old ones
        await archive_month(db, NOV, tmp_path)
        assert await db.fetchval("SELECT to_regclass('bill_2026_11')") is None
        # restored from where it was written, whatever the archive folder is set to today
        await restore_month(db, NOV, tmp_path / "elsewhere")
        assert await snapshot(db) == before
    finally:
        await db.close()


async def test_a_month_is_archived_only_once_everything_in_it_has_ended(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Each thing that still writes to a month keeps it in the database, one at a time."""
    await settle_and_deliver(db, NOV)  # bills written, no settlement record, notifications open
    with pytest.raises(Exception, match="its settlement is not started"):
        await archive_month(db, NOV, tmp_path)
    await complete_the_settlement(db, NOV)
    with pytest.raises(Exception, match="still to be delivered"):
        await archive_month(db, NOV, tmp_path)
    await end_every_notification(db, NOV)
    with pytest.raises(Exception, match="still to be reported to their workflows"):
        await archive_month(db, NOV, tmp_path)
    await report_every_outcome(db, NOV)
    bill = await db.fetchval("SELECT id FROM bill WHERE billing_month = $1 LIMIT 1", NOV)
    await db.execute(
        "INSERT INTO deferred_event (bill_id, purpose, topic, event, due_at, reason)"
        " VALUES ($1, 'RESEND-1', 'bill.resend', '{}', now(), 'quiet hours')",
        bill,
    )
    with pytest.raises(Exception, match="1 of its events wait out a send window"):
        await archive_month(db, NOV, tmp_path)
    assert await db.fetchval("SELECT count(*) FROM bill") == MEMBERS
    assert not (tmp_path / "2026-11").exists()
    await db.execute("DELETE FROM deferred_event")
    await archive_month(db, NOV, tmp_path)
    assert await db.fetchval("SELECT count(*) FROM bill") == 0


async def test_the_database_drops_only_a_month_archived_and_unchanged_since(
    databases: Databases, settings: Settings, tmp_path: Path
) -> None:
    installation = settings.beside("archive", await databases.create())
    owner = await connect(installation.db_url)
    worker = await asyncpg.connect(asyncpg_dsn(installation.db_url_for(DbRole.WORKER)))
    try:
        await a_whole_month(owner, NOV)
        with pytest.raises(asyncpg.RaiseError, match="no verified archive"):
            await archive_store.drop_month(worker, NOV)
        counts = await archive_store.month_counts(owner, NOV)
        await archive_store.record_archive(owner, NOV, str(tmp_path), "x", counts, 1)
        # a row written after the archive counted the month: it would be lost, so nothing goes
        bill = await owner.fetchval("SELECT id FROM bill WHERE billing_month = $1 LIMIT 1", NOV)
        await record_attempts(owner, [Attempt(bill, P, "sms", 9, "DUPLICATE")])
        with pytest.raises(asyncpg.RaiseError, match="delivery_attempt holds"):
            await archive_store.drop_month(worker, NOV)
        assert await owner.fetchval("SELECT to_regclass('bill_2026_11')") is not None
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await worker.execute("DROP TABLE delivery_attempt_2026_11")
        # the worker archives it (the retention Schedule's role), and the month goes
        await archive_month(worker, NOV, tmp_path)
        assert await owner.fetchval("SELECT to_regclass('bill_2026_11')") is None
    finally:
        await owner.close()
        await worker.close()


async def test_a_month_is_archived_by_one_process_at_a_time(
    databases: Databases, tmp_path: Path
) -> None:
    """The CLI run beside the retention Schedule's: the second waits for nothing and says why."""
    url = await databases.create()
    db, other = await connect(url), await connect(url)
    try:
        await a_whole_month(db, NOV)
        async with archive_store.month_held(other, NOV) as held:
            assert held
            with pytest.raises(TelebillError, match="by another process"):
                await archive_month(db, NOV, tmp_path)
            with pytest.raises(TelebillError, match="by another process"):
                await restore_month(db, NOV, tmp_path)
        assert not (tmp_path / "2026-11").exists()
        assert await db.fetchval("SELECT count(*) FROM bill") == MEMBERS
        await archive_month(db, NOV, tmp_path)
        async with archive_store.month_held(other, NOV) as held:
            assert held  # released by the archive that took it
    finally:
        await db.close()
        await other.close()
