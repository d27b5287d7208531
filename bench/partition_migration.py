"""How long migration 0017 takes on an installation that already holds months: per table and per
million rows.

    python -m bench.partition_migration --members 1000000 [--months 2] [--month 2026-11]

Seeds the members, settles and delivers each month with the stores (not timed), takes the
database back to 0016's plain tables (timed too: the way back), then migrates it to the latest
schema and prints what the migration logged: rows, seconds and seconds per million rows, per
table, and the whole.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from alembic import command

from bench.common import drop_database, fresh_database, run_bench
from bench.figures import Figure, record
from bench.year_probes import deliver
from telebill.config import get_settings
from telebill.db import migrate as migrations
from telebill.db.connect import connect
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month, shift_month
from telebill.seed.load import seed_population

BENCH_DB = "telebill_bench_partitions"
CHUNK = 5_000


class Said(logging.Handler):
    """Keeps what the migration logs (its figures per table)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def main(members: int, month: str, keep: bool, months: int) -> None:
    settings = get_settings()
    url = await fresh_database(settings, BENCH_DB)
    conn = await connect(url)
    first = parse_month(month)
    rows = 0
    for i in range(months):
        day = shift_month(first, i)
        print(f"{day:%Y-%m}: seeding, settling and delivering {members:,} members (not timed)…")
        await seed_population(conn, members, day, None)
        products = await load_products(conn, day)
        for lo in range(1, members + 1, CHUNK):
            await settle_chunk(conn, day, "bench", lo, min(lo + CHUNK - 1, members), products)
        await deliver(conn, day)
    for table in (
        "bill",
        "bill_item",
        "notification",
        "delivery_attempt",
        "usage_monthly",
        "settlement_error",
    ):
        rows += await conn.fetchval(f"SELECT count(*) FROM {table}")
    await conn.execute("VACUUM ANALYZE")
    await conn.close()
    cfg = migrations.alembic_config(url)
    said = Said()
    log = logging.getLogger("telebill.migrations")
    log.setLevel(logging.INFO)
    log.addHandler(said)
    started = time.perf_counter()
    await asyncio.to_thread(command.downgrade, cfg, "0016")
    down_s = time.perf_counter() - started
    said.lines.clear()
    started = time.perf_counter()
    await asyncio.to_thread(command.upgrade, cfg, "head")
    up_s = time.perf_counter() - started
    if not keep:
        await drop_database(settings, BENCH_DB)
    print()
    for line in said.lines:
        print(f"  {line}")
    per_million = up_s / rows * 1e6
    print(
        f"{months} months of {members:,} members, {rows:,} rows in the six tables: down to 0016 "
        f"in {down_s:.1f} s; up to the latest schema in {up_s:.1f} s ({per_million:.1f} s per "
        "million rows, 0018 and 0019 included)"
    )
    record(
        Figure(
            "partition_migration",
            "migration to partitions, per million rows",
            per_million,
            "s",
            note=f"{rows:,} rows ({months} months of {members:,} members), {up_s:.1f} s",
        )
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--months", type=int, default=2, help="settled, delivered months")


if __name__ == "__main__":
    run_bench(main, __doc__, options=options)
