"""What `bench.year` measures of each month, on its database: the raw COPY of the month's bills
and items into month-sized tables (the settlement's baseline), the month's deliveries written as
the consumers write them, the database's and its indexes' size, a member's bills, the console's
month status and the month report."""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg

from telebill.config import Settings
from telebill.db.delivery_store import Attempt, Published, mark_published, record_attempts
from telebill.db.month_views import month_status
from telebill.db.notify_store import PlannedSend, member_bills, record_plans
from telebill.db.partition_store import open_month
from telebill.db.tally_store import fold
from telebill.domain.month import shift_month
from telebill.month_report.build import month_view
from telebill.month_report.page import render_page
from telebill.service.members import MEMBER_PAGE_MONTHS

P = "MONTHLY_BILL"
PAGE = 5_000  # bills per batch, as the consumers write theirs
FAILED_FIRST = 100  # one bill in this many fails by e-mail and goes by SMS


async def forget_unfinished(conn: asyncpg.Connection, month: date) -> bool:
    """A month a stopped run left half done loses its bills and what followed them (its usage
    stays: the seed keeps what exists), so that its settlement is timed from nothing again."""
    if not await conn.fetchval("SELECT EXISTS (SELECT FROM bill WHERE billing_month = $1)", month):
        return False
    tables = ("delivery_attempt", "notification", "bill_item", "bill", "settlement_error")
    async with conn.transaction():
        # children before their parents, as telebill_drop_month; no trigger counts a DETACH
        for table in tables:
            part = f"{table}_{month:%Y_%m}"
            await conn.execute(f"ALTER TABLE {table} DETACH PARTITION {part}")
            await conn.execute(f"DROP TABLE {part}")
        for table in ("month_tally", "month_tally_delta", "settlement"):
            await conn.execute(f"DELETE FROM {table} WHERE billing_month = $1", month)
    await open_month(conn, month)
    return True


async def raw_copy_seconds(conn: asyncpg.Connection, month: date) -> float:
    """The month's bills and items COPYed into two fresh tables shaped like one month's
    partitions (the same indexes and foreign keys): the database's own ingest time for this
    output, whatever the history beside it."""
    with tempfile.TemporaryDirectory(prefix="telebill-year-") as tmp:
        bills, items = Path(tmp) / "bill.bin", Path(tmp) / "item.bin"
        for table, path in (("bill", bills), ("bill_item", items)):
            await conn.copy_from_query(
                f"SELECT * FROM {table} WHERE billing_month = $1",
                month,
                output=path,
                format="binary",
            )
        await conn.execute(
            "CREATE TABLE bench_copy_bill (LIKE bill INCLUDING DEFAULTS INCLUDING INDEXES);"
            "ALTER TABLE bench_copy_bill ADD FOREIGN KEY (member_id) REFERENCES member (id);"
            "CREATE TABLE bench_copy_item (LIKE bill_item INCLUDING DEFAULTS INCLUDING INDEXES);"
            "ALTER TABLE bench_copy_item ADD FOREIGN KEY (bill_id, billing_month)"
            " REFERENCES bench_copy_bill (id, billing_month)"
        )
        try:
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_to_table("bench_copy_bill", source=bills, format="binary")
                await conn.copy_to_table("bench_copy_item", source=items, format="binary")
            return time.perf_counter() - started
        finally:
            await conn.execute("DROP TABLE bench_copy_item, bench_copy_bill")


async def deliver(conn: asyncpg.Connection, month: date) -> tuple[int, float]:
    """Every bill of the month planned, published and sent, in pages, through the stores the
    workflows and consumers write with (one in FAILED_FIRST fails by e-mail first); returns
    (bills, seconds)."""
    send_at = datetime(month.year, month.month, 1, tzinfo=UTC) + timedelta(days=40)
    started = time.perf_counter()
    after, done = 0, 0
    while ids := [
        r[0]
        for r in await conn.fetch(
            "SELECT id FROM bill WHERE billing_month = $1 AND id > $2 ORDER BY id LIMIT $3",
            month,
            after,
            PAGE,
        )
    ]:
        await record_plans(conn, P, [PlannedSend(b, f"notify-{b}", send_at) for b in ids])
        await mark_published(conn, [Published(b, P, f"notify-{b}", send_at) for b in ids])
        failing = {b for b in ids if b % FAILED_FIRST == 0}
        await record_attempts(
            conn,
            [Attempt(b, P, "email", 1, "FAILED", error="smtp 451") for b in failing]
            + [Attempt(b, P, "email", 1, "SENT") for b in ids if b not in failing],
        )
        await record_attempts(conn, [Attempt(b, P, "sms", 1, "SENT") for b in failing])
        after, done = ids[-1], done + len(ids)
    await fold(conn)  # as the worker does every half minute
    return done, time.perf_counter() - started


async def report_outcomes(conn: asyncpg.Connection, month: date) -> None:
    """Every ended outcome of the month handed to its workflow, as the notification activities
    do (not timed: `deliver` measures the consumers' writes); a month is archived only then."""
    await conn.execute(
        "UPDATE notification SET reported_at = now() WHERE billing_month = $1"
        " AND workflow_id IS NOT NULL AND reported_at IS NULL",
        month,
    )


async def sizes(conn: asyncpg.Connection) -> tuple[int, int]:
    """(the database's bytes, its indexes' bytes)."""
    db = await conn.fetchval("SELECT pg_database_size(current_database())")
    idx = await conn.fetchval(
        "SELECT coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'i'"
    )
    return int(db), int(idx)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds."""
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples) * 1000, cuts[18] * 1000


async def timed(calls: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    samples = []
    for k in range(calls):
        started = time.perf_counter()
        await call(k)
        samples.append(time.perf_counter() - started)
    return samples


async def member_lookups(
    conn: asyncpg.Connection,
    members: int,
    month: date,
    seed: int,
    page_months: int = MEMBER_PAGE_MONTHS,
) -> list[float]:
    """A member's bills, as the console's member page reads them in `month` (its page of
    months up to that one), for members drawn at random."""
    rng = random.Random(seed)
    chosen = [rng.randint(1, members) for _ in range(200)]
    before = shift_month(month, 1)
    since = shift_month(before, -page_months)
    return await timed(len(chosen), lambda k: member_bills(conn, chosen[k], since, before))


async def status_reads(conn: asyncpg.Connection, month: date) -> list[float]:
    """The console's month status (its PostgreSQL part) as of after the month was delivered."""
    now = datetime(month.year, month.month, 1, tzinfo=UTC) + timedelta(days=45)
    return await timed(30, lambda _: month_status(conn, month, now))


async def report_seconds(settings: Settings, month: date) -> float:
    """The month report built, as `telebill report --html` builds it."""
    started = time.perf_counter()
    view = await month_view(settings, f"{month:%Y-%m}", datetime.now(UTC))
    render_page(view)
    return time.perf_counter() - started
