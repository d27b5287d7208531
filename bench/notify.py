"""Notification workflows scheduled and completed per second, next to a minimal workflow.

    python -m bench.notify --members 2000 --rounds 2

1. seeds and settles N members in a database of its own (not timed), with the clock set so every
   bill is due, runs a worker in this process and the three consumers as `telebill consume`
   processes (as a deployment on one box would);
2. in each round, on its share of the bills: the same harness starts that many minimal workflows
   (one no-op activity) and BillNotificationWorkflows (plan, publish to Kafka, e-mail consumer
   with the 1 s simulated provider and 1% failures, outcome back to the workflow), waiting for
   all of each; the order alternates between rounds, so neither always runs on a fresher server;
3. prints starts/s and completions/s of both, per round and over all rounds (all of them, and
   the steady rate between the 10th and the 90th percentile), their ratios, and what that makes
   per day on one box.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench.common import (
    deliverable_month,
    drop_database,
    drop_topics,
    run_bench,
    start_consumers,
)
from bench.figures import Figure, record
from bench.minimal_workflow import MinimalWorkflow, noop
from telebill.clock import offset_to
from telebill.config import asyncpg_dsn, get_settings
from telebill.contracts.notification import LEAN, notify_input, notify_workflow_id
from telebill.stack.kafka_topics import ensure_topics
from telebill.temporal_gateway import initial_search_attributes
from workers.temporal_worker import build_worker, worker_options
from workflows.notification import BillNotificationWorkflow

BENCH_DB = "telebill_bench_notify"
STARTS_AT_ONCE = 50
# Each wait for a result is a long poll, and the server refuses more than 1,200 at once per
# namespace (frontend.namespaceCount). Waits are taken in start order, which is close to the
# order of completion, so this bounds them with little delay to what is measured.
RESULTS_AT_ONCE = 400
Handle = WorkflowHandle[Any, Any]


@dataclass(frozen=True)
class Run:
    """n workflows started and awaited; the spans in seconds from the first start."""

    n: int
    starting: float  # until all n were started
    completing: float  # until all n completed (so the slowest one's latency counts)
    steady_n: int  # completions between the 10th and the 90th percentile…
    steady_span: float  # …and the time they took
    last: tuple[int, ...] = ()  # the items of the last 1% to complete

    @staticmethod
    def total(runs: Sequence[Run]) -> Run:
        return Run(
            sum(r.n for r in runs),
            sum(r.starting for r in runs),
            sum(r.completing for r in runs),
            sum(r.steady_n for r in runs),
            sum(r.steady_span for r in runs),
            tuple(i for r in runs for i in r.last),
        )

    def rates(self) -> tuple[float, float, float]:
        """started/s, completed/s, steady completed/s"""
        return (
            self.n / self.starting,
            self.n / self.completing,
            self.steady_n / max(self.steady_span, 1e-9),
        )


async def measure(items: Sequence[int], start: Callable[[int], Awaitable[Handle]]) -> Run:
    """Start a workflow per item (STARTS_AT_ONCE in flight) and wait for all of them."""
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    waiting = asyncio.Semaphore(RESULTS_AT_ONCE)
    started_at: list[float] = []
    finished: list[float] = []
    order: list[int] = []

    async def one(item: int) -> None:
        async with gate:
            handle = await start(item)
        started_at.append(time.perf_counter())
        async with waiting:
            await handle.result()
        finished.append(time.perf_counter())
        order.append(item)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in items))
    n = len(items)
    finished.sort()
    lo, hi = n // 10, (9 * n) // 10 - 1
    last = tuple(order[-max(n // 100, 1) :])
    return Run(
        n, max(started_at) - began, finished[-1] - began, hi - lo, finished[hi] - finished[lo], last
    )


def report(label: str, baseline: Run, notified: Run) -> None:
    b, m = baseline.rates(), notified.rates()
    print(f"{label}")
    for name, r in (("  minimal workflow (baseline)", b), ("  bill notification", m)):
        print(f"{name:32} {r[0]:10.1f} {r[1]:12.1f} {r[2]:9.1f}")
    ratio = [x / y for x, y in zip(m, b, strict=True)]
    print(
        f"{'  ratio (notification/minimal)':32} {ratio[0]:10.0%} {ratio[1]:12.0%} {ratio[2]:9.0%}"
    )


async def main(
    members: int,
    month_text: str,
    keep: bool,
    rounds: int,
    without_search_attributes: bool,
    version: int,
) -> None:
    base = get_settings()
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text)
    bills = [(r["id"], r["member_id"]) for r in await conn.fetch("SELECT id, member_id FROM bill")]
    tag = uuid.uuid4().hex[:6]
    pretend = datetime(2027, 1, 15, 14, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # every bill is due
    settings = base.beside(f"bench{tag}", url, clock_offset_s=offset_to(pretend))
    await ensure_topics(settings.kafka_servers, settings.kafka_partitions, settings.topic_prefix)
    client = await Client.connect(settings.temporal_target)
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=12)
    assert pool is not None
    consumers = await start_consumers(settings)
    minimal_queue = f"bench-minimal-{tag}"
    baseline: list[Run] = []
    notified: list[Run] = []
    try:
        async with (
            build_worker(client, pool, settings, settings.task_queue),
            Worker(
                client,
                task_queue=minimal_queue,
                workflows=[MinimalWorkflow],
                activities=[noop],
                # the installation's worker settings, as the notification workflows get
                **worker_options(settings),
            ),
        ):

            async def minimal(i: int) -> Handle:
                return await client.start_workflow(
                    MinimalWorkflow.run, i, id=f"bench{tag}-minimal-{i}", task_queue=minimal_queue
                )

            async def notification(i: int) -> Handle:
                bill, member = bills[i]
                params = replace(
                    notify_input(settings, bill, member, month_text),
                    search_attributes=not without_search_attributes,
                    version=version,
                )
                return await client.start_workflow(
                    BillNotificationWorkflow.run,
                    params,
                    id=notify_workflow_id(month_text, member, settings.workflow_id_prefix),
                    task_queue=settings.task_queue,
                    search_attributes=None
                    if without_search_attributes
                    else initial_search_attributes(month_text, member),
                )

            for r in range(rounds):
                share = range(r, len(bills), rounds)
                for kind in ("minimal", "notification")[:: 1 if r % 2 == 0 else -1]:
                    print(f"round {r + 1}: {len(share):,} {kind} workflows…", flush=True)
                    if kind == "minimal":
                        baseline.append(await measure(share, minimal))
                    else:
                        notified.append(await measure(share, notification))
    finally:
        for process in consumers:
            process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(p.wait() for p in consumers))
        await pool.close()
    delivered = await conn.fetchval(
        "SELECT count(*) FROM notification WHERE status LIKE 'DELIVERED_%'"
    )
    # Why the last ones were last: a failed first e-mail waits TELEBILL_RETRY_BASE_DELAY_S.
    slowest = [bills[i][0] for i in Run.total(notified).last]
    retried = await conn.fetchval(
        "SELECT count(DISTINCT n.bill_id) FROM notification n "
        "JOIN delivery_attempt a ON a.notification_id = n.id "
        "WHERE n.bill_id = ANY($1::bigint[]) AND a.outcome = 'FAILED'",
        slowest,
    )
    failed_first = await conn.fetchval(
        "SELECT count(DISTINCT notification_id) FROM delivery_attempt WHERE outcome = 'FAILED'"
    )
    await conn.close()
    if not keep:
        await drop_database(base, BENCH_DB)
        await drop_topics(settings)
    print()
    print(f"workflows: {len(bills):,} of each in {rounds} round(s); {delivered:,} bills delivered")
    print(f"{'':32} {'started/s':>10} {'completed/s':>12} {'steady/s':>9}")
    for r, (b, m) in enumerate(zip(baseline, notified, strict=True)):
        report(f"round {r + 1} ({'minimal' if r % 2 == 0 else 'notification'} first)", b, m)
    total = Run.total(notified)
    report("all rounds", Run.total(baseline), total)
    print(
        f"the last {len(slowest)} notifications to complete: {retried} had a failed e-mail "
        f"attempt, retried after {settings.retry_base_delay_s:.0f} s ({failed_first:,} such "
        "notifications in the whole run)"
    )
    print("(completed: all of them, so the slowest outcome counts, e.g. a retried e-mail;")
    print(" steady: completions per second between the 10th and the 90th percentile)")
    started, completed, steady = total.rates()
    print(
        f"one box: {completed * 86_400:,.0f} to {steady * 86_400:,.0f} notifications completed "
        f"per day, {started * 86_400:,.0f} scheduled"
    )
    base_started, _, base_steady = Run.total(baseline).rates()
    name = f"{len(bills):,} bill notification workflows ({rounds} rounds)"
    simplest = "a minimal one-activity workflow, same harness"
    record(Figure("notify", f"{name}: started", started, "workflows/s", base_started, simplest))
    record(
        Figure(
            "notify",
            f"{name}: completed, steady (10th–90th percentile)",
            steady,
            "workflows/s",
            base_steady,
            simplest,
            note=f"all completed: {completed:.1f}/s (the slowest, a retried e-mail, counts)",
        )
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds, alternating which kind goes first"
    )
    parser.add_argument(
        "--without-search-attributes",
        action="store_true",
        help="a diagnostic: notification workflows that keep no search attributes (what the "
        "Temporal UI's filters cost the server)",
    )
    parser.add_argument(
        "--version",
        type=int,
        choices=(3, LEAN),
        default=LEAN,
        help="the notification workflow's path: 3 (plan activity, timer, activity again: the "
        f"workflows started before 2026-11-26) or {LEAN} (today's)",
    )


if __name__ == "__main__":
    run_bench(main, __doc__, members=2_000, options=options)
