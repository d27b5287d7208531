"""The tables that grow with the bills are partitioned by month (migration 0017): an installation
holding two settled and delivered months migrates to it and back with every row kept, the keys
stay exact, and a month's partitions are opened by the code that writes to it, the worker
needing no DDL right of its own."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import pytest
from alembic import command

from telebill.config import Settings, asyncpg_dsn
from telebill.db import migrate as migrations
from telebill.db.connect import connect
from telebill.db.dead_letter_store import record_dead_letters
from telebill.db.delivery_store import Attempt, Published, mark_published, record_attempts
from telebill.db.notify_store import PlannedSend, record_plans
from telebill.db.partition_store import open_month, open_months_from
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.db_roles import DbRole
from telebill.messaging.dead_letter import DeadLetterRecord
from telebill.seed.load import seed_population
from tests.integration.conftest import Databases

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
P = "MONTHLY_BILL"
MEMBERS = 40
GROWING = ("bill", "bill_item", "notification", "delivery_attempt", "usage_monthly")
# What each table is compared by (its month is left out: the plain tables of 0016 have none).
SNAPSHOT = {
    "bill": "SELECT id, member_id, billing_month, amount_due, status FROM bill ORDER BY id",
    "bill_item": "SELECT id, bill_id, line_no, kind, amount, snapshot FROM bill_item ORDER BY id",
    "notification": "SELECT id, bill_id, purpose, status, channel, workflow_id, send_at "
    "FROM notification ORDER BY id",
    "delivery_attempt": "SELECT id, notification_id, channel, attempt, outcome, error "
    "FROM delivery_attempt ORDER BY id",
    "usage_monthly": "SELECT * FROM usage_monthly ORDER BY 1, 2, 3",
    "settlement_error": "SELECT billing_month, member_id, reason FROM settlement_error "
    "ORDER BY 1, 2",
}


async def settle_and_deliver(db: asyncpg.Connection, month: date) -> None:
    """A month as the real stores write it: usage, bills, plans, publishes, attempts (a failure,
    then a success or a dead letter)."""
    await seed_population(db, MEMBERS, month, None, workers=1)
    await settle_chunk(
        db, month, f"settlement-{month:%Y-%m}", 1, MEMBERS, await load_products(db, month)
    )
    bills = [r["id"] for r in await db.fetch("SELECT id FROM bill WHERE billing_month = $1", month)]
    at = datetime(month.year, month.month, 20, tzinfo=UTC)
    await record_plans(db, P, [PlannedSend(b, f"notify-{b}", at) for b in bills])
    await mark_published(db, [Published(b, P, f"notify-{b}", at) for b in bills[::2]])
    await record_attempts(
        db, [Attempt(b, P, "email", 1, "FAILED", error="451") for b in bills[:10]]
    )
    await record_attempts(db, [Attempt(b, P, "email", 2, "SENT") for b in bills[:8]])
    await record_dead_letters(
        db,
        [
            DeadLetterRecord(f"k{b}", {"bill_id": b}, "e-mail failed", b, P, "451", "550")
            for b in bills[8:10]
        ],
    )


async def snapshot(db: asyncpg.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: [tuple(r.values()) for r in await db.fetch(sql)] for t, sql in SNAPSHOT.items()}


async def shape(db: asyncpg.Connection) -> dict[str, Any]:
    """The six tables as the catalogue describes them: kind, columns, constraints, indexes."""
    return {
        "kinds": await db.fetch(
            "SELECT relname, relkind FROM pg_class WHERE relname = ANY($1::text[]) ORDER BY 1",
            list(SNAPSHOT),
        ),
        "columns": await db.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity "
            "FROM information_schema.columns WHERE table_name = ANY($1::text[]) ORDER BY 1, 2",
            list(SNAPSHOT),
        ),
        "constraints": await db.fetch(
            "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid WHERE t.relname = ANY($1::text[]) "
            # not the copies PostgreSQL keeps of a foreign key for each referenced partition
            "AND c.conparentid = 0 ORDER BY 1, 2",
            list(SNAPSHOT),
        ),
        "indexes": await db.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE tablename = ANY($1::text[]) ORDER BY 1, 2",
            list(SNAPSHOT),
        ),
    }


async def fresh_shape(databases: Databases, revision: str) -> dict[str, Any]:
    url = await databases.create(migrated=False)
    await asyncio.to_thread(command.upgrade, migrations.alembic_config(url), revision)
    conn = await connect(url)
    try:
        return await shape(conn)
    finally:
        await conn.close()


async def test_two_delivered_months_migrate_to_partitions_and_back_with_every_row(
    databases: Databases, caplog: pytest.LogCaptureFixture
) -> None:
    url = await databases.create()
    db = await connect(url)
    try:
        await settle_and_deliver(db, NOV)
        await settle_and_deliver(db, DEC)
        before = await snapshot(db)
        assert len(before["bill"]) == 2 * MEMBERS and len(before["delivery_attempt"]) == 36
        cfg = migrations.alembic_config(url)

        await asyncio.to_thread(command.downgrade, cfg, "0016")
        assert await snapshot(db) == before
        assert await shape(db) == await fresh_shape(databases, "0016")
        assert await db.fetchval("SELECT count(*) FROM pg_class WHERE relispartition") == 0

        with caplog.at_level(logging.INFO, logger="telebill.migrations"):
            await asyncio.to_thread(command.upgrade, cfg, "head")
        assert await snapshot(db) == before
        assert await shape(db) == await fresh_shape(databases, "head")
        copied = {
            r.getMessage().split(":")[0]
            for r in caplog.records
            if "per million rows" in r.getMessage()
        }
        assert copied == set(SNAPSHOT)
        # each month in partitions of its own, the children in their bill's month
        for table in SNAPSHOT:
            parts = await db.fetch(
                "SELECT c.relname, count(*) OVER () FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
                table,
            )
            assert {p["relname"] for p in parts} == {f"{table}_2026_11", f"{table}_2026_12"}
        assert (
            await db.fetchval(
                "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
                "WHERE n.billing_month <> b.billing_month"
            )
            == 0
        )
        assert await db.fetchval("SELECT count(*) FROM ONLY bill_2026_12") == MEMBERS
        # the ids go on from where they were: nothing is handed out twice
        newest = await db.fetchval(
            "SELECT nextval(pg_get_serial_sequence('delivery_attempt', 'id'))"
        )
        assert newest > max(r[0] for r in before["delivery_attempt"])
    finally:
        await db.close()


async def test_the_keys_stay_exact_across_partitions(db: asyncpg.Connection) -> None:
    await settle_and_deliver(db, NOV)
    bill = await db.fetchrow("SELECT id, member_id FROM bill ORDER BY id LIMIT 1")
    assert bill is not None
    with pytest.raises(asyncpg.UniqueViolationError, match="member_id_billing_month_key"):
        await db.execute(
            "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due, "
            "settlement_id) VALUES ($1, $2, 0, 0, 0, 0, 's')",
            bill["member_id"],
            NOV,
        )
    with pytest.raises(asyncpg.UniqueViolationError, match="bill_id_purpose_billing_month_key"):
        await db.execute(
            "INSERT INTO notification (billing_month, bill_id, purpose) VALUES ($1, $2, $3)",
            NOV,
            bill["id"],
            P,
        )
    # a notification can only be filed in its bill's month (where its key is checked)
    await open_month(db, DEC)
    with pytest.raises(asyncpg.ForeignKeyViolationError, match="notification_bill_id_fkey"):
        await db.execute(
            "INSERT INTO notification (billing_month, bill_id, purpose) VALUES ($1, $2, $3)",
            DEC,
            bill["id"],
            P,
        )
    # a month nobody opened has nowhere to go: refused, not kept in a catch-all
    with pytest.raises(asyncpg.CheckViolationError, match="no partition"):
        await db.execute(
            "INSERT INTO usage_monthly (billing_month, member_id, subscription_id) "
            "SELECT '2030-01-01', member_id, id FROM subscription LIMIT 1"
        )


async def test_the_worker_opens_months_without_any_ddl_right(
    databases: Databases, settings: Settings
) -> None:
    installation = settings.beside("partitions", await databases.create())
    worker = await asyncpg.connect(asyncpg_dsn(installation.db_url_for(DbRole.WORKER)))
    try:
        assert await open_months_from(worker, NOV) == 12  # six tables, this month and the next
        assert await open_months_from(worker, NOV) == 0
        assert await open_month(worker, DEC) == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await worker.execute(
                "CREATE TABLE bill_2027_01 PARTITION OF bill "
                "FOR VALUES FROM ('2027-01-01') TO ('2027-02-01')"
            )
        with pytest.raises(asyncpg.RaiseError, match="first day of a month"):
            await open_month(worker, date(2026, 11, 2))
        api = await asyncpg.connect(asyncpg_dsn(installation.db_url_for(DbRole.API)))
        try:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await open_month(api, date(2027, 1, 1))
        finally:
            await api.close()
    finally:
        await worker.close()
