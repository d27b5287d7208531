"""A month's figures read that month's partitions and no other's (issue 34: flat cost as
history grows). A join between two of the month's tables that forgets the month on one side
makes PostgreSQL probe every month's partition of that table: correct, and slower every month
(bench.year measured the month report going from 27 to 42 s over four months at 1M). Each
partition's scan counters tell whether a query touched it."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from telebill.db.month_views import month_status, recount_month_status
from telebill.db.notify_store import member_bills
from telebill.domain.month import shift_month
from telebill.month_report.queries import read_delivery, read_settlement, scheduled_by_day
from tests.integration.test_archive import complete_the_settlement
from tests.integration.test_month_partitions import DEC, NOV, settle_and_deliver

TABLES = ("bill", "bill_item", "notification", "delivery_attempt", "settlement_error")


async def scans(db: asyncpg.Connection, suffix: str) -> dict[str, int]:
    """Sequential and index scans so far of each partition named `<table>_<suffix>`."""
    await db.execute("SELECT pg_stat_force_next_flush()")  # this session's counts, published
    await db.execute("SELECT pg_stat_clear_snapshot()")  # and read afresh, not from a cache
    rows = await db.fetch(
        "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n"
        " FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
        [f"{t}_{suffix}" for t in TABLES],
    )
    return {r["relname"]: r["n"] for r in rows}


async def test_a_months_figures_touch_no_other_months_partitions(db: asyncpg.Connection) -> None:
    for month in (NOV, DEC):
        await settle_and_deliver(db, month)
        await complete_the_settlement(db, month)
    before = await scans(db, "2026_12")
    assert set(before) == {f"{t}_2026_12" for t in TABLES}
    now = datetime(2026, 12, 20, tzinfo=UTC)
    await month_status(db, NOV, now)
    await recount_month_status(db, NOV, now)
    settlement = await read_settlement(db, NOV)
    delivery = await read_delivery(db, NOV)
    await scheduled_by_day(db, NOV)
    assert settlement.record is not None and delivery.funnel.channels  # November was read
    assert await scans(db, "2026_12") == before


async def test_a_members_bills_read_each_bills_month_once(db: asyncpg.Connection) -> None:
    """The console's member page: each of the member's bills is looked up in its own month's
    notifications only (one probe per bill, not one per bill and month)."""
    for month in (NOV, DEC):
        await settle_and_deliver(db, month)
    # the plan a large installation gets (an index probe per bill), not a tiny table's hash join
    for setting in ("enable_hashjoin", "enable_mergejoin", "enable_seqscan"):
        await db.execute(f"SET {setting} = off")
    member = await db.fetchval("SELECT member_id FROM bill WHERE billing_month = $1 LIMIT 1", DEC)
    before = {m: await notification_probes(db, m) for m in ("2026_11", "2026_12")}
    bills = await member_bills(db, member, NOV, shift_month(DEC, 1))
    assert {b.month for b in bills} == {"2026-11", "2026-12"}
    after = {m: await notification_probes(db, m) for m in ("2026_11", "2026_12")}
    assert {m: after[m] - before[m] for m in after} == {"2026_11": 1, "2026_12": 1}


async def notification_probes(db: asyncpg.Connection, suffix: str) -> int:
    return (await scans(db, suffix))[f"notification_{suffix}"]
