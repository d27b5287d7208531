"""Settlement wall time against the raw COPY time of the very same output rows, in one run.

    python -m bench.settle --members 1000000 [--month 2026-11] [--keep] [--workers 1]

1. seeds N members in its own database (telebill_bench_settle; not timed);
2. starts `--workers` `telebill worker` processes on one task queue, waits until they poll it
   and are idle, and times the month's settlement through Temporal, with the CPU the workers
   and PostgreSQL took meanwhile;
3. dumps the bills and items it wrote, empties the tables, and times a raw COPY of those rows
   back in (the floor: the database's own ingest time for this output);
4. prints both times, their ratio, the CPU, and each worker's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client

from bench import pg_statements
from bench.common import (
    children,
    cpu_seconds,
    descendants,
    drop_database,
    fresh_database,
    run_bench,
    status_kib,
    tree_cpu_seconds,
)
from bench.figures import Figure, Goal, record
from telebill.config import get_settings
from telebill.db.connect import connect
from telebill.db.reference_checks import one_plan_per_reference_check
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from telebill.stack.postgres import Postgres
from telebill.temporal_gateway import TemporalGateway
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

BENCH_DB = "telebill_bench_settle"


def pg_cpu_by_role(postmaster: int) -> dict[str, float]:
    """PostgreSQL's CPU so far by what its processes do: the connections' backends, the
    checkpointer, the background and WAL writers, and those that came and went (autovacuum
    workers, short connections), which the postmaster has reaped."""
    roles: dict[str, float] = {"exited (autovacuum, …)": cpu_seconds(postmaster, reaped=True)}
    roles["exited (autovacuum, …)"] -= cpu_seconds(postmaster)
    for pid in children(postmaster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        role = title.removeprefix("postgres: ").split(" ")[0] if ":" in title else title
        role = role if role in PG_ROLES else "connections"
        roles[role] = roles.get(role, 0.0) + cpu_seconds(pid)
    return roles


PG_ROLES = ("checkpointer", "background", "walwriter", "autovacuum", "logical")


def family_cpu(pid: int) -> float:
    """A process's CPU and that of every process under it now (its pricing processes live as
    long as it does, so none has exited and been reaped meanwhile)."""
    return cpu_seconds(pid) + sum(cpu_seconds(p) for p in descendants(pid))


def pool_cpu_now(workers: list[asyncio.subprocess.Process]) -> float:
    """The CPU of the workers' pricing processes so far (activities/settlement_pool.py)."""
    return sum(family_cpu(w.pid) - cpu_seconds(w.pid) for w in workers)


async def ready(gateway: TemporalGateway, workers: list[int], within: float = 120) -> float:
    """Wait until the workers poll the settlement's queue and have gone quiet (their start,
    their pricing processes' start done), as a worker is when a Schedule starts the month;
    returns how long that took. Before 2026-12-05 the clock started with the workers' start."""
    started = time.perf_counter()
    before = sum(family_cpu(pid) for pid in workers)
    while time.perf_counter() - started < within:
        await asyncio.sleep(0.25)
        now = sum(family_cpu(pid) for pid in workers)
        if now - before < 0.02 and await gateway.settlement_polled():
            return time.perf_counter() - started
        before = now
    raise SystemExit(f"the workers were not ready within {within:.0f} s")


async def main(members: int, month: str, keep: bool, workers: int) -> None:
    settings = get_settings()
    url = await fresh_database(settings, BENCH_DB)
    conn = await connect(url)
    print(f"seeding {members:,} members (not timed)…", flush=True)
    await seed_population(conn, members, parse_month(month), None)
    await conn.execute("VACUUM ANALYZE")
    postgres = Postgres(settings)
    # a superuser's view: the workers' statements run as their own role (started before the
    # workers, whose sessions then count nested statements too)
    stats = None if postgres.external else await postgres.admin(BENCH_DB)
    if stats and not await pg_statements.start(stats):
        await stats.close()  # the module is not loaded: nothing to count
        stats = None
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "starters.cli",
            "worker",
            "--task-queue",
            task_queue,
            env={**os.environ, "DATABASE_URL": url},
            stdout=asyncio.subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    postmaster = None if postgres.external else postgres.pid()  # its CPU: ours to read
    try:
        client = await Client.connect(settings.temporal_target)
        on_queue = settings.model_copy(update={"task_queue": task_queue})
        waited = await ready(TemporalGateway(client, on_queue), [w.pid for w in processes])
        print(f"settling… (the worker{'s' if workers > 1 else ''} ready after {waited:.1f} s)")
        cpu_before = sum(family_cpu(w.pid) for w in processes)
        pool_before = pool_cpu_now(processes)
        pg_before = tree_cpu_seconds(postmaster) if postmaster else 0.0
        roles_before = pg_cpu_by_role(postmaster) if postmaster else {}
        if stats:
            await pg_statements.reset(stats)
        started = time.perf_counter()
        summary = await client.execute_workflow(
            MonthlySettlementWorkflow.run,
            SettlementInput(
                month=month,
                shard_size=settings.settle_shard_size,
                chunk_size=settings.settle_chunk_size,
                parallel=settings.settle_parallel,
                notify=False,  # the settlement alone is measured
            ),
            id=f"bench-settlement-{task_queue}",
            task_queue=on_queue.settlement_task_queue,
        )
        settle_s = time.perf_counter() - started
        # the workers' own and their pricing processes' (activities/settlement_pool.py)
        worker_cpu = sum(family_cpu(w.pid) for w in processes) - cpu_before
        pool_cpu = pool_cpu_now(processes) - pool_before
        pool_mib = (
            max((status_kib(p, "VmHWM") for w in processes for p in descendants(w.pid)), default=0)
            / 1024
        )
        pg_cpu = tree_cpu_seconds(postmaster) - pg_before if postmaster else None
        roles = pg_cpu_by_role(postmaster) if postmaster else {}
        pg_roles = {k: v - roles_before.get(k, 0.0) for k, v in roles.items()}
        worker_mib = max(status_kib(w.pid, "VmHWM") for w in processes) / 1024
        statements = await pg_statements.top(stats) if stats else None
    finally:
        for w in processes:
            w.terminate()
        for w in processes:
            await w.wait()

    print("raw COPY of the same bills and items…", flush=True)
    with tempfile.TemporaryDirectory(prefix="telebill-bench-") as tmp:
        bills, items = Path(tmp) / "bill.bin", Path(tmp) / "bill_item.bin"
        # a partitioned table is copied out through a query (COPY … TO refuses its parent)
        await conn.copy_from_query("SELECT * FROM bill", output=bills, format="binary")
        await conn.copy_from_query("SELECT * FROM bill_item", output=items, format="binary")
        await conn.execute("TRUNCATE bill CASCADE")
        await conn.execute("VACUUM bill, bill_item")
        if stats:
            await pg_statements.reset(stats)
        started = time.perf_counter()
        async with conn.transaction():
            # the keys checked as the settlement has them checked: the floor is the database's
            # best for these rows, not a plan that reads the month for each item
            await one_plan_per_reference_check(conn)
            await conn.copy_to_table("bill", source=bills, format="binary")
            await conn.copy_to_table("bill_item", source=items, format="binary")
        raw_s = time.perf_counter() - started
        raw_statements = await pg_statements.top(stats) if stats else None
    await conn.close()
    if stats:
        await stats.close()
    if not keep:
        await drop_database(settings, BENCH_DB)

    # issue 36's goals: the fixed costs weigh more in a small month
    goal = 1.5 if members >= 1_000_000 else 2.0
    print()
    print(
        f"bills {summary.bills:,}, items {summary.items:,} "
        f"({summary.items / max(summary.bills, 1):.2f} per bill), errors {summary.errors}"
    )
    print(f"raw COPY of bills + items (baseline): {raw_s:7.1f} s")
    print(f"telebill settlement (Temporal):       {settle_s:7.1f} s")
    print(f"settlement / raw COPY: {settle_s / raw_s:.2f}×  (goal ≤ {goal}×)")
    print(
        f"CPU during the settlement: the worker{'s' if workers > 1 else ''} {worker_cpu:.1f} s "
        f"({worker_cpu / settle_s:.0%} of one core; its pricing processes {pool_cpu:.1f} s)"
        + (f", PostgreSQL {pg_cpu:.1f} s ({pg_cpu / settle_s:.0%})" if pg_cpu is not None else "")
    )
    if pg_roles:
        print(
            "  PostgreSQL's by process: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(pg_roles.items()) if v >= 0.05)
        )
    if statements is not None and raw_statements is not None:
        print("the settlement's " + pg_statements.report(statements))
        print("the raw COPY's " + pg_statements.report(raw_statements, shown=4))
    print(
        f"worker peak RSS: {worker_mib:,.0f} MiB"
        + (" (the largest)" if workers > 1 else "")
        + (f", a pricing process's {pool_mib:,.0f} MiB at most" if pool_mib else "")
    )
    record(
        Figure(
            "settle",
            f"settlement through Temporal, {members:,} members",
            settle_s,
            "s",
            raw_s,
            "raw COPY of the bills and items it wrote",
            Goal(high=goal, of="ratio"),
            f"{summary.bills:,} bills, {summary.items:,} items; {workers} worker(s), peak RSS "
            f"{worker_mib:,.0f} MiB (a pricing process {pool_mib:,.0f} MiB); "
            f"CPU: workers {worker_cpu:.0f} s (pricing processes {pool_cpu:.0f} s)"
            + (f", PostgreSQL {pg_cpu:.0f} s" if pg_cpu is not None else ""),
        )
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=int, default=1, help="`telebill worker` processes on the task queue"
    )


if __name__ == "__main__":
    run_bench(main, __doc__, options=options)
