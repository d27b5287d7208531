"""The foreign keys into month-partitioned tables are checked with one plan, not one per row
(telebill/db/reference_checks.py): PostgreSQL's own statement statistics count how often the
checks were planned while a settlement, a page of dead letters, of plans and of attempts are
written."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from telebill.config import Settings
from telebill.db.dead_letter_store import record_dead_letters
from telebill.db.delivery_store import Attempt, record_attempts
from telebill.db.notify_store import PlannedSend, record_plan, record_plans
from telebill.db.partition_store import open_months_from
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.pricing import Product
from telebill.messaging.dead_letter import DeadLetterRecord
from telebill.seed.load import seed_population
from telebill.stack.postgres import Postgres
from tests.integration.conftest import Databases

NOV = date(2026, 11, 1)
MEMBERS = 60
BIG = 2000  # a month of this many bills spans some 30 pages
AT = datetime(2026, 11, 20, tzinfo=UTC)
P = "MONTHLY_BILL"
# the queries PostgreSQL runs for a foreign key (ri_triggers.c): how often each ran, was planned,
# and the blocks they read
CHECKS = """
SELECT coalesce(sum(calls), 0) AS calls, coalesce(sum(plans), 0) AS plans,
       coalesce(sum(shared_blks_hit + shared_blks_read), 0) AS blocks
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query LIKE '%FOR KEY SHARE OF%'
"""


async def counting(conn: asyncpg.Connection) -> None:
    """Count this connection's nested statements too (the checks run inside the triggers)."""
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.ObjectNotInPrerequisiteStateError:
        pytest.fail(
            "the stack's PostgreSQL does not preload pg_stat_statements (a stack started "
            "before it did): `telebill stack down`, then `telebill stack up`",
            pytrace=False,
        )
    await conn.execute("SET pg_stat_statements.track = 'all'")
    await conn.execute("SET pg_stat_statements.track_planning = on")


async def checks(conn: asyncpg.Connection) -> asyncpg.Record:
    """The checks since the last call: calls, plans and blocks."""
    row = await conn.fetchrow(CHECKS)
    assert row is not None
    await conn.execute("SELECT pg_stat_statements_reset()")
    return row


async def checked(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await checks(conn)
    return int(row["calls"]), int(row["plans"])


async def superuser(settings: Settings, databases: Databases) -> asyncpg.Connection:
    """A superuser's connection to a fresh database: it alone may count nested statements."""
    name = make_url(await databases.create()).database
    assert name is not None
    return await Postgres(settings).admin(name)


async def bill_ids(conn: asyncpg.Connection) -> list[int]:
    return [r[0] for r in await conn.fetch("SELECT id FROM bill ORDER BY id")]


async def tiny_month_believed_empty(conn: asyncpg.Connection) -> dict[int, Product]:
    """BIG members to settle, their month and the next opened and vacuumed while empty (known
    to be): a plan made now costs a scan of the whole month below the index. The products."""
    await seed_population(conn, BIG, NOV, None, workers=1)
    products = await load_products(conn, NOV)
    await open_months_from(conn, NOV, ahead=1)
    await conn.execute("VACUUM bill, bill_item, notification")
    return products


def assert_found_by_key(row: asyncpg.Record, what: str) -> None:
    """A look-up by the primary key reads the index's root and leaf and the row's page."""
    per_check = row["blocks"] / row["calls"]
    assert per_check < 6, f"{per_check:.1f} blocks a check ({what})"


async def test_each_reference_check_is_planned_once_not_per_row(
    settings: Settings, databases: Databases
) -> None:
    conn = await superuser(settings, databases)
    try:
        await seed_population(conn, MEMBERS, NOV, None, workers=1)
        products = await load_products(conn, NOV)
        # the next month opened, as the settlement opens it: its partitions, never vacuumed,
        # are costed as if they held rows, so a plan over every month looks dearer than
        # planning each row's check for its own month
        await open_months_from(conn, NOV, ahead=1)
        await settle_chunk(conn, NOV, "s", 1, MEMBERS // 2, products)
        await counting(conn)

        await settle_chunk(conn, NOV, "s", MEMBERS // 2 + 1, MEMBERS, products)
        items = await conn.fetchval(
            "SELECT count(*) FROM bill_item WHERE bill_id IN "
            "(SELECT id FROM bill WHERE member_id > $1)",
            MEMBERS // 2,
        )
        calls, plans = await checked(conn)
        assert calls >= items > MEMBERS  # every item's bill was checked…
        assert plans <= 2, f"the item → bill check was planned {plans} times for {calls} rows"

        bills = await bill_ids(conn)
        half = len(bills) // 2
        letters = [
            DeadLetterRecord(f"k{b}", {"bill_id": b}, "failed", b, P, "451", "550")
            for b in bills[:half]
        ]
        await record_dead_letters(conn, letters)  # their notifications are made with them
        calls, plans = await checked(conn)
        assert calls >= half
        assert plans <= 2, f"a dead letter's notification → bill check was planned {plans} times"

        await record_plans(conn, P, [PlannedSend(b, f"notify-{b}", AT) for b in bills])
        calls, plans = await checked(conn)
        assert calls >= len(bills) - half
        assert plans <= 2, f"the notification → bill check was planned {plans} times"

        await record_attempts(conn, [Attempt(b, P, "email", 1, AttemptOutcome.SENT) for b in bills])
        calls, plans = await checked(conn)
        assert calls >= len(bills)
        assert plans <= 2, f"the attempt → notification check was planned {plans} times"
    finally:
        await conn.close()


async def test_the_one_plan_finds_each_bill_by_its_key_whatever_the_month_held_when_made(
    settings: Settings, databases: Databases
) -> None:
    """The plan is made on the first chunk and kept: made while the month's partition was tiny
    and believed empty (vacuumed before the month), a scan of the whole partition looked
    cheapest, and every later check of the month would have read all its bills."""
    conn = await superuser(settings, databases)
    try:
        products = await tiny_month_believed_empty(conn)
        await counting(conn)
        await settle_chunk(conn, NOV, "s", 1, 20, products)  # the plan is made here
        await checks(conn)

        await settle_chunk(conn, NOV, "s", 21, BIG, products)
        row = await checks(conn)
        pages = await conn.fetchval("SELECT pg_relation_size('bill_2026_11') / 8192")
        assert row["calls"] > BIG
        assert_found_by_key(row, f"the month: {pages} pages")
    finally:
        await conn.close()


async def test_a_plan_cached_before_the_bulk_write_is_not_kept_for_it(
    settings: Settings, databases: Databases
) -> None:
    """Single-row writes (a bill's own plan) leave PostgreSQL's own choice of plan cached for
    the check, made while the month was tiny; the bulk write after them must not reuse it."""
    conn = await superuser(settings, databases)
    try:
        products = await tiny_month_believed_empty(conn)
        await settle_chunk(conn, NOV, "s", 1, 20, products)
        for b in await bill_ids(conn):  # one at a time, as a bill's workflow records its plan
            await record_plan(conn, b, P, f"notify-{b}", AT)
        await settle_chunk(conn, NOV, "s", 21, BIG, products)
        rest = (await bill_ids(conn))[20:]
        await counting(conn)
        await record_plans(conn, P, [PlannedSend(b, f"notify-{b}", AT) for b in rest])
        row = await checks(conn)
        assert row["calls"] >= len(rest)
        assert_found_by_key(row, "notification → bill")
    finally:
        await conn.close()
