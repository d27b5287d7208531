"""A year of months on one database: does the cost of a month stay flat as history grows?

    python -m bench.year --members 1000000 --months 12 [--month 2026-11] [--fresh] [--keep]

Month after month on one database (telebill_bench_year): the month's usage is drawn (`seed`,
members joining and leaving as it models them; not timed), the month is settled through
Temporal by a `telebill worker` process, its rows are COPYed raw into month-sized tables (the
baseline), and every bill is delivered as the consumers record it (plans, publishes, attempts:
one in a hundred fails by e-mail and goes by SMS; the send itself is bench.month's). Then, per
month: the settlement beside its COPY, the database's and its indexes' size, a member's bills
(200 members, p50/p95), the console's month status (30 reads, p50/p95) and the month report's
build time.

It resumes: the months done are kept in .stack/bench/year-<members>.json with the database, so
a run that stops (or a sitting that ends) goes on from the next month; --fresh starts over.
After the last month, the first is archived (as retention would) and restored: the Parquet's
size beside its partitions', and both times.
Goals (issue 34, at 1M members): the last month's settlement within 1.1× the first's (each as
a ratio to its COPY), a member's bills ≤ 10 ms p95, the month status ≤ 200 ms p95.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from temporalio.client import Client

from bench import year_probes as probe
from bench.common import drop_database, fresh_database, run_bench
from bench.figures import Figure, Goal, record
from telebill.archive.months import archive_month, restore_month
from telebill.config import Settings, get_settings
from telebill.db.connect import connect
from telebill.db.partition_store import month_sizes
from telebill.domain.month import parse_month, shift_month
from telebill.seed.load import seed_population
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

BENCH_DB = "telebill_bench_year"


@dataclass
class MonthFigures:
    month: str
    bills: int
    items: int
    settle_s: float
    copy_s: float
    deliver_s: float
    db_bytes: int
    index_bytes: int
    member_p50_ms: float
    member_p95_ms: float
    status_p50_ms: float
    status_p95_ms: float
    report_s: float

    @property
    def ratio(self) -> float:
        return self.settle_s / self.copy_s


async def settle(
    client: Client, settings: Settings, month: str, queue: str
) -> tuple[int, int, float]:
    started = time.perf_counter()
    summary = await client.execute_workflow(
        MonthlySettlementWorkflow.run,
        SettlementInput(
            month=month,
            shard_size=settings.settle_shard_size,
            chunk_size=settings.settle_chunk_size,
            parallel=settings.settle_parallel,
            notify=False,  # delivered below, as the consumers record it
        ),
        id=f"bench-year-{month}-{queue}",
        task_queue=queue,
    )
    return summary.bills, summary.items, time.perf_counter() - started


async def one_month(
    conn: asyncpg.Connection, client: Client, s: Settings, members: int, month: str, queue: str
) -> MonthFigures:
    day = parse_month(month)
    if await probe.forget_unfinished(conn, day):
        print(f"{month}: a stopped run's bills of this month are removed, to settle it anew")
    print(f"{month}: usage of {members:,} members (not timed)…", flush=True)
    await seed_population(conn, members, day, None)
    print(f"{month}: settling…", flush=True)
    bills, items, settle_s = await settle(client, s, month, queue)
    copy_s = await probe.raw_copy_seconds(conn, day)
    print(f"{month}: delivering (the consumers' writes)…", flush=True)
    _, deliver_s = await probe.deliver(conn, day)
    await conn.execute("ANALYZE")  # as autovacuum would have by the next month
    db_bytes, index_bytes = await probe.sizes(conn)
    member = probe.percentiles(await probe.member_lookups(conn, members, day, day.toordinal()))
    status = probe.percentiles(await probe.status_reads(conn, day))
    report_s = await probe.report_seconds(s, day)
    return MonthFigures(
        month,
        bills,
        items,
        settle_s,
        copy_s,
        deliver_s,
        db_bytes,
        index_bytes,
        *member,
        *status,
        report_s,
    )


def show(done: list[MonthFigures]) -> None:
    print()
    print(
        f"{'month':8} {'bills':>10} {'settle s':>9} {'COPY s':>7} {'ratio':>6} {'deliver s':>9} "
        f"{'DB GiB':>7} {'idx GiB':>7} {'member p50/p95 ms':>18} {'status p50/p95 ms':>18} "
        f"{'report s':>8}"
    )
    for f in done:
        print(
            f"{f.month:8} {f.bills:>10,} {f.settle_s:>9.1f} {f.copy_s:>7.1f} {f.ratio:>6.2f} "
            f"{f.deliver_s:>9.1f} {f.db_bytes / 2**30:>7.2f} {f.index_bytes / 2**30:>7.2f} "
            f"{f.member_p50_ms:>8.2f} / {f.member_p95_ms:<7.2f} "
            f"{f.status_p50_ms:>8.2f} / {f.status_p95_ms:<7.2f} {f.report_s:>8.2f}"
        )


async def archive_round_trip(conn: asyncpg.Connection, month: str, root: Path) -> None:
    """The oldest month archived (as retention would) and restored: the archive's size against
    the month's partitions, and both times."""
    day = parse_month(month)
    online = sum(p.table_bytes + p.index_bytes for p in await month_sizes(conn, day))
    await probe.report_outcomes(conn, day)
    archived = await archive_month(conn, day, root)
    started = time.perf_counter()
    await restore_month(conn, day, root)
    restore_s = time.perf_counter() - started
    print(
        f"\n{month} archived: {archived.bytes / 2**20:,.0f} MiB of Parquet for "
        f"{online / 2**20:,.0f} MiB of partitions (data and indexes), in {archived.seconds:.0f} s;"
        f" restored in {restore_s:.0f} s"
    )
    record(
        Figure(
            "year",
            f"{month} archived (Parquet)",
            archived.bytes / 2**20,
            "MiB",
            online / 2**20,
            "its partitions, data and indexes",
            note=f"archived in {archived.seconds:.0f} s, restored in {restore_s:.0f} s",
        )
    )


def goals(done: list[MonthFigures], members: int) -> None:
    first, last = done[0], done[-1]
    growth = last.ratio / first.ratio
    member_p95 = max(f.member_p95_ms for f in done)
    status_p95 = max(f.status_p95_ms for f in done)
    print(
        f"\nmonth {len(done)}'s settlement against month 1's, each as a ratio to its COPY: "
        f"{growth:.2f}× (goal ≤ 1.1×)\nworst member's bills p95: {member_p95:.2f} ms (goal ≤ 10)"
        f"\nworst month status p95: {status_p95:.2f} ms (goal ≤ 200)"
    )
    if len(done) > 1:
        per_month = (last.db_bytes - first.db_bytes) / (len(done) - 1)
        per_index = (last.index_bytes - first.index_bytes) / (len(done) - 1)
        per_million = 1e6 / last.bills
        print(
            f"each month adds {per_month * per_million / 2**30:.2f} GiB to the database, of which "
            f"{per_index * per_million / 2**30:.2f} GiB indexes, per million bills"
        )
    note = f"{members:,} members, {len(done)} months; month {len(done)}: {last.bills:,} bills"
    record(
        Figure(
            "year",
            f"month {len(done)}'s settlement/COPY over month 1's",
            last.ratio,
            "×",
            first.ratio,
            "month 1's settlement/COPY",
            Goal(high=1.1, of="ratio"),
            note,
        )
    )
    record(Figure("year", "a member's bills, worst p95", member_p95, "ms", goal=Goal(high=10)))
    record(Figure("year", "the month status, worst p95", status_p95, "ms", goal=Goal(high=200)))


async def probe_again(url: str, members: int, month: str) -> None:
    """A member's page by its number of months, and the month status, measured again on a kept
    database as of its last month (nothing settled)."""
    conn = await connect(url)
    try:
        day = parse_month(month)
        seed = time.time_ns()  # other members than the last probe's: their pages not yet read
        print(f"{month}, {members:,} members: p50 / p95 ms of 200 members drawn at random")
        for page in (1, 3, 6, 12):
            lookups = await probe.member_lookups(conn, members, day, seed + page, page)
            p50, p95 = probe.percentiles(lookups)
            print(f"a member's bills, a page of {page:2} months: {p50:6.2f} / {p95:6.2f}")
        p50, p95 = probe.percentiles(await probe.status_reads(conn, day))
        print(f"the month status:                     {p50:6.2f} / {p95:6.2f}")
    finally:
        await conn.close()


async def main(
    members: int,
    month: str,
    keep: bool,
    months: int,
    fresh: bool,
    database: str,
    probe_only: bool,
) -> None:
    s = get_settings()
    name = "year" if database == BENCH_DB else database
    state = s.stack_dir / "bench" / f"{name}-{members}.json"
    done = [MonthFigures(**m) for m in json.loads(state.read_text())] if state.exists() else []
    if probe_only:
        if not done:
            raise SystemExit(f"no kept run of {members:,} members to probe ({state} is missing)")
        url = make_url(s.db_url).set(database=database).render_as_string(hide_password=False)
        await probe_again(url, members, done[-1].month)
        return
    if fresh or not done:
        url = await fresh_database(s, database)
        done = []
    else:
        url = make_url(s.db_url).set(database=database).render_as_string(hide_password=False)
    s = s.beside("benchyear", url)
    conn = await connect(url)
    queue = f"bench-year-{uuid.uuid4().hex[:8]}"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starters.cli",
        "worker",
        "--task-queue",
        queue,
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        client = await Client.connect(s.temporal_target)
        first = parse_month(month)
        for i in range(len(done), months):
            done.append(
                await one_month(conn, client, s, members, f"{shift_month(first, i):%Y-%m}", queue)
            )
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps([asdict(f) for f in done], indent=1))
            show(done[-1:])
    finally:
        worker.terminate()
        await worker.wait()
        await conn.close()
    show(done)
    goals(done, members)
    if len(done) == months and months > 1:
        conn = await connect(url)
        try:
            with tempfile.TemporaryDirectory(prefix="telebill-year-archive-") as tmp:
                await archive_round_trip(conn, done[0].month, Path(tmp))
        finally:
            await conn.close()
    if not keep and len(done) == months:
        await drop_database(get_settings(), database)  # from the main database
        state.unlink()


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--months", type=int, default=12, help="months to settle and deliver")
    parser.add_argument("--fresh", action="store_true", help="start over (drop the database)")
    parser.add_argument("--database", default=BENCH_DB, help="its database (two runs at once)")
    parser.add_argument(
        "--probe-only",
        action="store_true",
        help="measure a member's page (by months) and the month status again on the kept "
        "database, as of its last month, and stop",
    )


if __name__ == "__main__":
    run_bench(main, __doc__, options=options)
