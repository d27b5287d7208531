"""The steps bench.month and bench.month_horizon share: the bench database, the dispatches, the
lines they print, and the send day (its bills started delayed by the daily dispatch, woken at
once and followed to completion, beside as many minimal workflows doing the same)."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client

from bench.common import deliverable_month
from bench.figures import Figure, Goal, record
from bench.month_probes import (
    Closed,
    cpu_seconds,
    delayed_then_work,
    temporal_disk,
    wait_closed,
)
from bench.month_workflows import DelayedThenWork
from bench.task_waits import task_waits
from telebill.clock import offset_to
from telebill.config import Settings
from workers.temporal_worker import build_worker
from workflows.dispatch import DispatchInput, DispatchWorkflow
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

BENCH_DB = "telebill_bench_month"
SEOUL = ZoneInfo("Asia/Seoul")
# The preferred day of the send day: the send month's first, so that no earlier day's bills
# are overdue by the clock the send day sets (the daily dispatch would start those too).
SEND_DAY = 1


def where_time_went(label: str, before: dict[str, float], after: dict[str, float]) -> None:
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items())
    print(f"   CPU seconds ({label}): {parts}", flush=True)


def line(label: str, n: int, seconds: float, baseline: float | None = None) -> float:
    rate = n / max(seconds, 1e-9)
    text = f"{label:44} {n:>9,} in {seconds:8.1f} s = {rate:8.1f}/s"
    if baseline:
        text += f"   baseline {baseline:8.1f}/s, ratio {rate / baseline:5.0%}"
    print(text, flush=True)
    return rate


async def planned_later(conn: asyncpg.Connection, month: date) -> int:
    """The month's bills planned in PostgreSQL whose workflow is not started yet."""
    n: int = await conn.fetchval(
        "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
        "WHERE b.billing_month = $1 AND n.workflow_id IS NULL AND n.send_at IS NOT NULL",
        month,
    )
    return n


async def dispatch(client: Client, s: Settings, month: str, name: str, **extra: object) -> int:
    result = await client.execute_workflow(
        DispatchWorkflow.run,
        DispatchInput(month=month, **extra),  # type: ignore[arg-type]
        id=f"{s.workflow_id_prefix}dispatch-{month}-{name}",
        task_queue=s.dispatch_task_queue,
    )
    return result.started


async def settle(client: Client, pool: asyncpg.Pool, s: Settings, month: str) -> None:
    """Phase 1: the month settled through MonthlySettlementWorkflow, on a worker of its own."""
    async with build_worker(client, pool, s):
        began = time.perf_counter()
        summary = await client.execute_workflow(
            MonthlySettlementWorkflow.run,
            SettlementInput(month=month, notify=False),
            id=f"{s.workflow_id_prefix}settlement-{month}",
            task_queue=s.settlement_task_queue,
        )
        line("1. settled (members)", summary.members, time.perf_counter() - began)


async def prepare(
    base: Settings,
    members: int,
    month_text: str,
    send_day_share: float | None,
    database: str = BENCH_DB,
) -> tuple[str, asyncpg.Connection]:
    """The bench database: N members seeded (not settled), all in Seoul, no blackout windows,
    `send_day_share` of them (or the seed's share) preferring day SEND_DAY."""
    url, conn = await deliverable_month(base, database, members, month_text, settle=False)
    await conn.execute("UPDATE member SET timezone = 'Asia/Seoul'")
    await conn.execute("DELETE FROM blackout_window")
    if send_day_share:  # a bigger send day than the seed's (about 1/28 of the members)
        await conn.execute(
            "UPDATE member SET preferred_day = $1 WHERE id % $2 = 0",
            SEND_DAY,
            max(round(1 / send_day_share), 1),
        )
    return url, conn


@dataclass
class SendDay:
    """The send month's first day: `baseline` first (as many one-activity workflows started
    delayed until an instant `lead` s ahead), then `clock` (the settings whose clock puts the
    day's start `lead` s ahead), then, with a worker on those settings, `run`."""

    client: Client
    conn: asyncpg.Connection
    s: Settings
    month: str
    send_month: date
    members: int  # the day's
    roots: dict[str, int]  # the processes whose CPU is counted
    folder: Path | None  # the Temporal server's (None: the production server's databases)
    bench: str  # the figures' benchmark
    query: str  # the day's bills' workflows, by Temporal's visibility
    baseline: Closed | None = None

    @property
    def lead(self) -> float:
        # time to start every baseline workflow and every send-day one, both started delayed
        # until the instant: 110–140 starts/s on a server holding a day's bills
        return 30 + self.members / 80

    async def run_baseline(self, queue: str, kind: type[DelayedThenWork]) -> None:
        cpu = cpu_seconds(self.roots)
        wake = datetime.now(UTC) + timedelta(seconds=self.lead)
        self.baseline = await delayed_then_work(
            self.client, queue, queue, self.members, self.lead, kind=kind
        )
        line("   baseline: delayed start + activity", self.members, self.baseline.all_s)
        where_time_went("the baseline's send day", cpu, cpu_seconds(self.roots))
        ids = [f"bench{queue}-timer-{i}" for i in range(self.members)]
        print("   " + (await task_waits(self.client, ids, wake)).line())

    def clock(self) -> tuple[Settings, float]:
        """The settings with the day's start `lead` s ahead and the daily dispatch's horizon
        reaching just past it (this day's bills started, not the next day's); the instant of
        the day's start (time.perf_counter)."""
        day = datetime(self.send_month.year, self.send_month.month, SEND_DAY, tzinfo=SEOUL)
        s3 = self.s.model_copy(
            update={
                "clock_offset_s": offset_to(day - timedelta(seconds=self.lead)),
                "notify_start_horizon_h": (self.lead + 3600) / 3600,
            }
        )
        return s3, time.perf_counter() + self.lead

    async def run(self, s3: Settings, wake: float) -> int:
        """The daily dispatch starts the day's bills; they wake at `wake` and are followed
        until all have completed. How many were started (a worker on `s3` must be running)."""
        base = self.baseline
        assert base is not None, "run_baseline first"
        disk = await temporal_disk(self.folder, self.conn)
        mark, cpu = time.perf_counter(), cpu_seconds(self.roots)
        held = await dispatch(self.client, s3, self.month, "send-day")
        grown = await temporal_disk(self.folder, self.conn) - disk
        print(
            f"   {held:,} started in {time.perf_counter() - mark:.1f} s, "
            f"waking in {wake - time.perf_counter():.0f} s"
        )
        if time.perf_counter() > wake:  # the first woke while the last were being started
            print("   (the starts ran past the wake: the figures below include starting)")
        if self.folder is None or self.folder.exists():
            per = grown / max(held, 1) / 1024
            grown_mib = grown / 2**20
            print(f"   Temporal's disk +{grown_mib:,.0f} MiB, {per:.1f} KiB per sleeping workflow")
            record(Figure(self.bench, "Temporal's disk per sleeping workflow", per, "KiB"))
        done = await wait_closed(self.client, self.query, held, wake)
        base_rate = self.members / base.p99_s
        rate = line("3. send day: completed (to 99%)", held, done.p99_s, base_rate)
        record(
            Figure(
                self.bench,
                f"send day: {held:,} bills waking at once, completed (to 99%)",
                rate,
                "bills/s",
                base_rate,
                "as many delayed one-activity workflows waking at once",
            )
        )
        steady, base_steady = done.steady_rate, base.steady_rate
        print(
            f"   send day: steady (10th–90th percentile) {steady:8.1f}/s   "
            f"baseline {base_steady:8.1f}/s, ratio {steady / base_steady:5.0%}"
        )
        record(
            Figure(
                self.bench,
                f"send day: {held:,} bills waking at once, steady rate "
                "(10th–90th percentile of completions)",
                steady,
                "bills/s",
                base_steady,
                "as many delayed one-activity workflows, the same percentiles",
                Goal(low=1.5, of="ratio"),
            )
        )
        line("   send day: completed (all)", held, done.all_s)
        failed = await self.conn.fetchval(
            "SELECT count(DISTINCT a.notification_id) FROM delivery_attempt a "
            "JOIN notification n ON n.id = a.notification_id "
            "WHERE n.published_at IS NOT NULL AND a.outcome = 'FAILED'"
        )
        print(
            f"   {failed:,} of the day's bills had a failed attempt (their retry "
            "or fallback is the tail past 99%)"
        )
        where_time_went("dispatch and send day", cpu, cpu_seconds(self.roots))
        ids = [
            r["workflow_id"]
            for r in await self.conn.fetch(
                "SELECT workflow_id FROM notification WHERE published_at IS NOT NULL"
            )
        ]
        our_wake = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - wake)
        print("   " + (await task_waits(self.client, ids, our_wake)).line())
        return held


def month_options(parser: argparse.ArgumentParser) -> None:
    """The options both month benchmarks take beside run_bench's."""
    parser.add_argument(
        "--send-day-share",
        type=float,
        help="the share of the members whose preferred day is the send day "
        "(default: the seed's, about 1/28)",
    )
    parser.add_argument(
        "--stack-server",
        action="store_true",
        help="use the stack's Temporal server (dev or production, as the stack runs it) "
        "instead of a fresh dev server of the bench's own",
    )
