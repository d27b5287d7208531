"""Migrations from empty, idempotent; the database itself refuses what the rules forbid."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from telebill.db import migrate as migrations
from telebill.db.connect import connect
from telebill.db.partition_store import open_month
from tests.helpers import run_cli
from tests.integration.conftest import Databases

TABLES = {
    "member",
    "product",
    "subscription",
    "usage_monthly",
    "bill",
    "bill_item",
    "notification",
    "delivery_attempt",
    "message_template",
    "blackout_window",
    "reserved_send",
    "dead_letter",
    "population",
    "settlement",
    "settlement_error",
    "api_user",
    "audit_log",
}


async def test_migrates_an_empty_database_and_a_second_run_changes_nothing(
    databases: Databases,
) -> None:
    url = await databases.create(migrated=False)
    conn = await connect(url)
    try:
        assert await migrations.current_revision(conn) is None
        await asyncio.to_thread(migrations.upgrade, url)
        assert await migrations.current_revision(conn) == migrations.head_revision()
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        assert tables >= TABLES
        products = await conn.fetchval("SELECT count(*) FROM product")
        assert products > 0

        await asyncio.to_thread(migrations.upgrade, url)  # again: nothing to do, nothing doubled
        assert await migrations.current_revision(conn) == migrations.head_revision()
        assert await conn.fetchval("SELECT count(*) FROM product") == products
    finally:
        await conn.close()


async def test_two_migrators_at_once_both_succeed(databases: Databases) -> None:
    url = await databases.create(migrated=False)
    env = {"DATABASE_URL": url}
    results = await asyncio.gather(
        *(asyncio.to_thread(run_cli, "db", "migrate", env=env) for _ in range(2))
    )
    for result in results:
        assert result.returncode == 0, result.stderr
    conn = await connect(url)
    try:
        assert await migrations.current_revision(conn) == migrations.head_revision()
    finally:
        await conn.close()


async def add_member(conn: asyncpg.Connection, **overrides: object) -> int:
    values: dict[str, object] = {
        "name": "홍길동",
        "email": f"m{await conn.fetchval('SELECT count(*) FROM member')}@a.kr",
        "phone": "010-1234-5678",
        "preferred_day": 10,
        "timezone": "Asia/Seoul",
    }
    values.update(overrides)
    cols = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return int(
        await conn.fetchval(
            f"INSERT INTO member ({cols}) VALUES ({params}) RETURNING id", *values.values()
        )
    )


async def test_a_second_bill_for_the_same_member_and_month_is_refused(
    db: asyncpg.Connection,
) -> None:
    member = await add_member(db)
    await open_month(db, date(2026, 11, 1))
    insert = (
        "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due, "
        "settlement_id) VALUES ($1, '2026-11-01', 50000, 0, 5000, 55000, 'settlement-2026-11')"
    )
    await db.execute(insert, member)
    with pytest.raises(asyncpg.UniqueViolationError, match="member_id_billing_month_key"):
        await db.execute(insert, member)


@pytest.mark.parametrize("day", [0, 32, -1])
async def test_an_invalid_preferred_day_is_refused(db: asyncpg.Connection, day: int) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="member_preferred_day_1_31"):
        await add_member(db, preferred_day=day)


async def test_an_unknown_time_zone_is_refused(db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.PostgresError, match="time zone"):
        await add_member(db, timezone="Mars/Olympus_Mons")
    assert await add_member(db, timezone="America/Los_Angeles") > 0


async def test_quiet_hours_need_both_ends(db: asyncpg.Connection) -> None:
    import datetime as dt

    with pytest.raises(asyncpg.CheckViolationError, match="member_quiet_hours_both_or_none"):
        await add_member(db, quiet_start=dt.time(22, 0))
    assert await add_member(db, quiet_start=dt.time(22, 0), quiet_end=dt.time(9, 0)) > 0


async def test_bill_amounts_and_items_are_constrained(db: asyncpg.Connection) -> None:
    member = await add_member(db)
    await open_month(db, date(2026, 11, 1))
    with pytest.raises(asyncpg.CheckViolationError, match="bill_amount_due_whole_tens"):
        await db.execute(
            "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due, "
            "settlement_id) VALUES ($1, '2026-11-01', 50001, 0, 5000, 55001, 's')",
            member,
        )
    with pytest.raises(asyncpg.CheckViolationError, match="bill_month_first_day"):
        await db.execute(
            "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due, "
            "settlement_id) VALUES ($1, '2026-11-02', 0, 0, 0, 0, 's')",
            member,
        )
    bill = await db.fetchval(
        "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due, "
        "settlement_id) VALUES ($1, '2026-11-01', 0, 0, 0, 0, 's') RETURNING id",
        member,
    )
    item = (
        "INSERT INTO bill_item (billing_month, bill_id, line_no, kind, label, amount, snapshot) "
        "VALUES ('2026-11-01', $1, 1, 'PLAN', '기본료', 0, '{}')"
    )
    await db.execute(item, bill)
    with pytest.raises(asyncpg.UniqueViolationError, match="bill_id_line_no_billing_month_key"):
        await db.execute(item, bill)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(item.replace("$1", "$1 + 1000"), bill)


async def test_negative_catalogue_prices_are_refused(db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="product_amounts_non_negative"):
        await db.execute(
            "INSERT INTO product (id, code, kind, name, monthly_fee) "
            "VALUES (999, 'X', 'plan', 'x', -1)"
        )
