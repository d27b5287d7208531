"""Seeding rate against the raw COPY rate of the very same rows, measured in the same run.

    python -m bench.seed --members 1000000 [--month 2026-11] [--keep]

1. generates the rows once into files (not timed);
2. raw: COPY of those files into the empty tables (the database's own ingest rate, the floor);
3. empties the tables and times `telebill seed` doing all of it (generation + COPY + commits);
4. prints both rates, their ratio and the peak memory of the seeder's processes.
Works in its own database (telebill_bench_seed), dropped afterwards unless --keep.
"""

from __future__ import annotations

import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.common import drop_database, fresh_database, run_bench
from bench.figures import Figure, Goal, record
from telebill.config import get_settings
from telebill.db.connect import connect
from telebill.domain.month import parse_month
from telebill.seed.generate import (
    MEMBER_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    USAGE_COLUMNS,
    ChunkRequest,
    generate_chunk,
)
from telebill.seed.load import DEFAULT_SEED, SeedPlan, read_catalogue, seed_population

BENCH_DB = "telebill_bench_seed"
TABLES = (
    ("member", MEMBER_COLUMNS),
    ("subscription", SUBSCRIPTION_COLUMNS),
    ("usage_monthly", USAGE_COLUMNS),
)


async def main(members: int, month_text: str, keep: bool) -> None:
    month = parse_month(month_text)
    settings = get_settings()
    url = await fresh_database(settings, BENCH_DB)
    conn = await connect(url)
    try:
        with tempfile.TemporaryDirectory(prefix="telebill-bench-") as tmp:
            files = {table: Path(tmp) / f"{table}.tsv" for table, _ in TABLES}
            plan = SeedPlan(DEFAULT_SEED, month, members, 0, 0)
            print(f"generating {members:,} members into files (not timed)…", flush=True)
            rows = generate_files(plan.requests(await read_catalogue(conn)), files)

            print("raw COPY of the same rows…", flush=True)
            started = time.perf_counter()
            async with conn.transaction():
                for table, columns in TABLES:
                    await conn.copy_to_table(
                        table, source=files[table], columns=columns, format="text"
                    )
            raw_s = time.perf_counter() - started

        await conn.execute("TRUNCATE member, subscription, usage_monthly, population CASCADE")
        await conn.execute("VACUUM member, subscription, usage_monthly")
        print("telebill seed…", flush=True)
        report = await seed_population(conn, members, month, DEFAULT_SEED)
    finally:
        await conn.close()
        if not keep:
            await drop_database(settings, BENCH_DB)

    assert report.rows_added == rows, (report.rows_added, rows)
    raw_rate = rows / raw_s
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print(f"rows (members + subscriptions + usage): {rows:,}")
    print(f"raw COPY (baseline):  {raw_s:7.1f} s  {raw_rate:>10,.0f} rows/s")
    print(f"telebill seed:        {report.seconds:7.1f} s  {report.rows_per_second:>10,.0f} rows/s")
    print(f"seed rate / raw COPY rate: {report.rows_per_second / raw_rate:.0%}  (goal ≥ 50%)")
    print(
        f"peak RSS: main process {self_mb:,.0f} MiB, largest generator process {child_mb:,.0f} MiB"
    )
    record(
        Figure(
            "seed",
            f"telebill seed, {members:,} members ({rows:,} rows)",
            report.rows_per_second,
            "rows/s",
            raw_rate,
            "raw COPY of the same rows",
            Goal(low=0.5, of="ratio"),
            f"peak RSS {self_mb:,.0f} MiB (main), {child_mb:,.0f} MiB (largest generator)",
        )
    )


def generate_files(requests: list[ChunkRequest], files: dict[str, Path]) -> int:
    total = 0
    handles = {table: path.open("wb") for table, path in files.items()}
    try:
        with ProcessPoolExecutor() as pool:
            for chunk in pool.map(generate_chunk, requests):
                handles["member"].write(chunk.member)
                handles["subscription"].write(chunk.subscription)
                handles["usage_monthly"].write(chunk.usage)
                total += chunk.members + chunk.subscriptions + chunk.usage_rows
    finally:
        for handle in handles.values():
            handle.close()
    return total


if __name__ == "__main__":
    run_bench(main, __doc__)
