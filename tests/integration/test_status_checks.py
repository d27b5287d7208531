"""One word per state: each status column's CHECK, as PostgreSQL holds it, allows exactly the
values of its enum (an enum member added without a migration fails here), every status column
has one, and migration 0016 adds them to a database that already holds rows."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from enum import StrEnum

import asyncpg
import pytest
from alembic import command

from telebill.channels import channels, delivered_statuses
from telebill.db import migrate as migrations
from telebill.db.connect import connect
from telebill.db.dead_letter_store import record_dead_letters
from telebill.db.month_views import month_status
from telebill.db.partition_store import open_month
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.statuses import (
    DELIVERED,
    DELIVERED_PATTERN,
    RESEND_PATTERN,
    BillStatus,
    NotificationStatus,
    Purpose,
    ReservationStatus,
    SettlementStatus,
    delivered_status,
    resend_purpose,
)
from telebill.messaging.dead_letter import DeadLetterRecord
from tests.integration.conftest import Databases

# constraint → (table, column, its enum, the patterns it allows besides the enum's values)
CHECKS: dict[str, tuple[str, str, type[StrEnum], set[str]]] = {
    "notification_status": ("notification", "status", NotificationStatus, {DELIVERED_PATTERN}),
    "notification_purpose": ("notification", "purpose", Purpose, {RESEND_PATTERN}),
    "deferred_event_purpose": ("deferred_event", "purpose", Purpose, {RESEND_PATTERN}),
    "bill_status": ("bill", "status", BillStatus, set()),
    "settlement_status": ("settlement", "status", SettlementStatus, set()),
    "reserved_send_status": ("reserved_send", "status", ReservationStatus, set()),
    "delivery_attempt_outcome": ("delivery_attempt", "outcome", AttemptOutcome, set()),
}
# Text columns that hold a state (an HTTP status, audit_log.status, is a number).
STATE_COLUMNS = {"status", "purpose", "outcome"}
LITERAL = re.compile(r"'((?:[^']|'')*)'::text")
PATTERN = re.compile(r"~ '((?:[^']|'')*)'::text")


async def a_bill(conn: asyncpg.Connection, month: date, status: str = "SETTLED") -> int:
    member = await conn.fetchval(
        "INSERT INTO member (name, email, phone, preferred_day) "
        "VALUES ('Kim', $1, '010-0000-0000', 5) RETURNING id",
        f"kim{month:%Y%m}@example.com",
    )
    if await conn.fetchval("SELECT to_regprocedure('telebill_month_partitions(date)')"):
        await open_month(conn, month)  # a schema from before 0017 has no partitions to open
    bill: int = await conn.fetchval(
        "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due,"
        " status, settlement_id) VALUES ($1, $2, 0, 0, 0, 0, $3, 's') RETURNING id",
        member,
        month,
        status,
    )
    return bill


def allowed(definition: str) -> tuple[set[str], set[str]]:
    """The values and the patterns a CHECK's definition (pg_get_constraintdef) allows."""
    patterns = {m.replace("''", "'") for m in PATTERN.findall(definition)}
    literals = {m.replace("''", "'") for m in LITERAL.findall(definition)}
    return literals - patterns, patterns


async def definitions(conn: asyncpg.Connection) -> dict[str, tuple[str, str, str]]:
    """CHECK name → (table, its columns, definition)."""
    rows = await conn.fetch(
        """
        SELECT c.conname, t.relname, pg_get_constraintdef(c.oid) AS def,
               array_agg(a.attname::text) AS columns
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        JOIN pg_namespace s ON s.oid = t.relnamespace AND s.nspname = 'public'
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(c.conkey)
        WHERE c.contype = 'c'
        GROUP BY c.conname, t.relname, c.oid
        """
    )
    return {r["conname"]: (r["relname"], ",".join(r["columns"]), r["def"]) for r in rows}


async def test_each_status_check_allows_exactly_its_enum(db: asyncpg.Connection) -> None:
    found = await definitions(db)
    for name, (table, column, enum, patterns) in CHECKS.items():
        assert name in found, f"no CHECK {name} on {table}.{column}"
        on, columns, definition = found[name]
        assert (on, columns) == (table, column), name
        values, pats = allowed(definition)
        assert values == {m.value for m in enum}, f"{name}: {definition}"
        assert pats == patterns, f"{name}: {definition}"


async def test_every_state_column_has_a_check(db: asyncpg.Connection) -> None:
    text_columns = {
        (r["table_name"], r["column_name"])
        for r in await db.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'text' "
            "AND column_name = ANY($1::text[])",
            sorted(STATE_COLUMNS),
        )
    }
    checked = {(t, c) for t, c, _, _ in CHECKS.values()}
    assert text_columns == checked


async def test_the_registry_delivered_statuses_are_allowed_and_others_refused(
    db: asyncpg.Connection,
) -> None:
    statuses = delivered_statuses()
    assert statuses[:2] == ["DELIVERED_EMAIL", "DELIVERED_SMS"]
    assert set(statuses) == {delivered_status(n) for n in channels()}
    assert {"DELIVERED_ALIMTALK", "DELIVERED_PUSH"} <= set(statuses)
    for status in statuses:
        assert DELIVERED.match(status), status
        assert await db.fetchval("SELECT $1 ~ $2", status, DELIVERED_PATTERN), status
    bill = await a_bill(db, date(2026, 11, 1))
    await db.execute(
        "INSERT INTO notification (billing_month, bill_id) SELECT billing_month, id FROM bill"
        " WHERE id = $1",
        bill,
    )
    for status in [*statuses, "DEAD_LETTER", "PENDING", delivered_status("fax")]:
        await db.execute("UPDATE notification SET status = $2 WHERE bill_id = $1", bill, status)
    for word in ["DELIVERED", "DELIVERED_", "delivered_email", "SENT", "STUCK", "SCHEDULED"]:
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute("UPDATE notification SET status = $2 WHERE bill_id = $1", bill, word)
    for purpose in [resend_purpose(1), resend_purpose(120)]:
        await db.execute("UPDATE notification SET purpose = $2 WHERE bill_id = $1", bill, purpose)
    for purpose in ["RESEND-0", "RESEND-", "RESEND-01", "monthly_bill", "MONTHLY"]:
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute(
                "UPDATE notification SET purpose = $2 WHERE bill_id = $1", bill, purpose
            )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute("UPDATE bill SET status = 'PAID' WHERE id = $1", bill)


async def test_0016_adds_the_checks_to_a_database_with_rows(databases: Databases) -> None:
    url = await databases.create(migrated=False)
    await asyncio.to_thread(command.upgrade, migrations.alembic_config(url), "0015")
    conn = await connect(url)
    try:
        bills = [
            await a_bill(conn, date(2026, 9, 1)),
            await a_bill(conn, date(2026, 10, 1), "NOTHING_DUE"),
            await a_bill(conn, date(2026, 11, 1)),
        ]
        rows = [
            (bills[0], "MONTHLY_BILL", "DELIVERED_ALIMTALK"),
            (bills[0], "RESEND-2", "DEAD_LETTER"),
            (bills[2], "MONTHLY_BILL", "PENDING"),
        ]
        for bill, purpose, status in rows:
            n = await conn.fetchval(  # 0015's tables: plain, without the month (0017)
                "INSERT INTO notification (bill_id, purpose, status) VALUES ($1, $2, $3) "
                "RETURNING id",
                bill,
                purpose,
                status,
            )
            await conn.execute(
                "INSERT INTO delivery_attempt (notification_id, channel, attempt, outcome) "
                "VALUES ($1, 'email', 1, 'SENT'), ($1, 'email', 2, 'DEFERRED')",
                n,
            )
        await conn.execute(
            "INSERT INTO deferred_event (bill_id, purpose, topic, event, due_at, reason) "
            "VALUES ($1, 'RESEND-3', 't', '{}'::jsonb, now(), 'QUIET_HOURS')",
            bills[2],
        )
        await conn.execute(
            "INSERT INTO settlement (id, billing_month, status) "
            "VALUES ('settlement-2026-09', '2026-09-01', 'COMPLETED')"
        )

        await asyncio.to_thread(migrations.upgrade, url)
        assert await migrations.current_revision(conn) == migrations.head_revision()
        assert set(CHECKS) <= set(await definitions(conn))
        assert await conn.fetchval("SELECT count(*) FROM notification") == len(rows)
        # and on through the partitions (0017) and the kept counts (0019): the three months
        assert await conn.fetchval("SELECT count(*) FROM delivery_attempt") == 2 * len(rows)
        kept = await month_status(conn, date(2026, 9, 1), datetime(2026, 12, 1, tzinfo=UTC))
        assert kept.delivered_by == {"alimtalk": 1} and kept.bills == 1
    finally:
        await conn.close()


async def test_0016_names_the_rows_it_cannot_keep(databases: Databases) -> None:
    url = await databases.create(migrated=False)
    await asyncio.to_thread(command.upgrade, migrations.alembic_config(url), "0015")
    conn = await connect(url)
    try:
        await a_bill(conn, date(2026, 11, 1), "PAID")
        with pytest.raises(Exception, match=r"bill\.status = 'PAID' \(1 rows\)"):
            await asyncio.to_thread(migrations.upgrade, url)
        assert await migrations.current_revision(conn) == "0015"
    finally:
        await conn.close()


async def test_a_dead_letter_naming_no_purpose_of_ours_is_kept_without_a_notification(
    db: asyncpg.Connection,
) -> None:
    bill = await a_bill(db, date(2026, 11, 1))
    letters = [
        DeadLetterRecord("src:a", {"bill_id": bill}, "why", bill, "WEEKLY_DIGEST", None, None),
        DeadLetterRecord("src:b", {"bill_id": bill}, "why", bill, resend_purpose(1), None, None),
    ]
    assert await record_dead_letters(db, letters) == 2
    assert await db.fetchval("SELECT count(*) FROM dead_letter") == 2
    rows = await db.fetch("SELECT purpose, status FROM notification WHERE bill_id = $1", bill)
    assert [(r["purpose"], r["status"]) for r in rows] == [("RESEND-1", "DEAD_LETTER")]
