"""Notification workflows scheduled and completed per second, next to a minimal workflow.

    python -m bench.notify --members 1000

1. seeds and settles N members in a database of its own (not timed), with the clock set so every
   bill is due, runs a worker in this process and the three consumers as `telebill consume`
   processes (as a deployment on one box would);
2. baseline: the same harness starts N minimal workflows (one no-op activity) and waits for all;
3. it starts N BillNotificationWorkflows (plan, publish to Kafka, e-mail consumer with the 1 s
   simulated provider, outcome signalled back) and waits for all;
4. prints starts/s and completions/s of both (all of them, and the steady rate between the 10th
   and 90th percentile), their ratios, and what that makes per day on one box.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from subprocess import DEVNULL
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.notification import initial_search_attributes, notify_workflow_id
from bench.common import deliverable_month, drop_database, run_bench
from bench.minimal_workflow import MinimalWorkflow, noop
from telebill.config import asyncpg_dsn, get_settings
from telebill.stack.kafka import ensure_topics
from workers.temporal_worker import build_worker
from workflows.notification import BillNotificationWorkflow, NotifyInput

BENCH_DB = "telebill_bench_notify"
STARTS_AT_ONCE = 50


@dataclass(frozen=True)
class Rates:
    started: float  # per second, all n started
    completed: float  # per second, all n completed (includes the slowest one's latency)
    steady: float  # per second, from the 10th to the 90th percentile of completions


async def measure(n: int, start: Callable[[int], Awaitable[WorkflowHandle[Any, Any]]]) -> Rates:
    """Start n workflows (STARTS_AT_ONCE in flight) and wait for all of them."""
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    finished: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            handle = await start(i)
        started_at.append(time.perf_counter())
        await handle.result()
        finished.append(time.perf_counter())

    started_at: list[float] = []
    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    finished.sort()
    lo, hi = finished[n // 10], finished[(9 * n) // 10 - 1]
    return Rates(
        n / (max(started_at) - began),
        n / (finished[-1] - began),
        (len(finished[n // 10 : (9 * n) // 10])) / max(hi - lo, 1e-9),
    )


async def main(members: int, month_text: str, keep: bool) -> None:
    base = get_settings()
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text)
    bills = [(r["id"], r["member_id"]) for r in await conn.fetch("SELECT id, member_id FROM bill")]
    tag = uuid.uuid4().hex[:6]
    pretend = datetime(2027, 1, 15, 14, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # every bill is due
    settings = base.model_copy(
        update={
            "database_url": url,
            "topic_prefix": f"bench{tag}.",
            "workflow_id_prefix": f"bench{tag}-",
            "task_queue": f"bench-notify-{tag}",
            "clock_offset_s": (pretend - datetime.now(UTC)).total_seconds(),
            "worker_max_activities": 64,
            "worker_max_workflow_tasks": 32,
        }
    )
    await ensure_topics(settings.kafka_servers, settings.kafka_partitions, settings.topic_prefix)
    client = await Client.connect(settings.temporal_target)
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=12)
    assert pool is not None
    env = os.environ | settings.process_env()
    telebill = str(Path(sys.executable).parent / "telebill")
    consumers = [
        await asyncio.create_subprocess_exec(
            telebill, "consume", kind, env=env, stdout=DEVNULL, stderr=DEVNULL
        )
        for kind in ("email", "sms", "dlq")
    ]
    minimal_queue = f"bench-minimal-{tag}"
    try:
        async with (
            build_worker(client, pool, settings, settings.task_queue),
            Worker(
                client,
                task_queue=minimal_queue,
                workflows=[MinimalWorkflow],
                activities=[noop],
                max_concurrent_activities=64,
                max_concurrent_workflow_tasks=32,
            ),
        ):
            n = len(bills)
            print(f"baseline: {n:,} minimal workflows (one no-op activity)…", flush=True)

            async def minimal(i: int) -> WorkflowHandle[Any, Any]:
                return await client.start_workflow(
                    MinimalWorkflow.run, i, id=f"bench{tag}-minimal-{i}", task_queue=minimal_queue
                )

            baseline = await measure(n, minimal)
            print(f"{n:,} notification workflows (plan, publish, deliver, outcome)…", flush=True)

            async def notification(i: int) -> WorkflowHandle[Any, Any]:
                bill, member = bills[i]
                return await client.start_workflow(
                    BillNotificationWorkflow.run,
                    NotifyInput(bill, member, month_text, clock_offset_s=settings.clock_offset_s),
                    id=notify_workflow_id(month_text, member, settings.workflow_id_prefix),
                    task_queue=settings.task_queue,
                    search_attributes=initial_search_attributes(month_text, member),
                )

            notified = await measure(n, notification)
    finally:
        for process in consumers:
            process.send_signal(signal.SIGTERM)
        await asyncio.gather(*(p.wait() for p in consumers))
        await pool.close()
    delivered = await conn.fetchval(
        "SELECT count(*) FROM notification WHERE status LIKE 'DELIVERED_%'"
    )
    await conn.close()
    if not keep:
        await drop_database(base, BENCH_DB)
    print()
    print(f"workflows: {n:,} of each; {delivered:,} bills delivered")
    print(f"{'':30} {'started/s':>10} {'completed/s':>12} {'steady/s':>9}")
    for label, r in (("minimal workflow (baseline)", baseline), ("bill notification", notified)):
        print(f"{label:30} {r.started:10.1f} {r.completed:12.1f} {r.steady:9.1f}")
    print(
        f"{'ratio (notification/minimal)':30} {notified.started / baseline.started:10.0%} "
        f"{notified.completed / baseline.completed:12.0%} {notified.steady / baseline.steady:9.0%}"
    )
    print("(completed: all of them, so the slowest outcome counts, e.g. a retried e-mail;")
    print(" steady: completions per second between the 10th and the 90th percentile)")
    print(
        f"one box, at the steady rate: {notified.steady * 86_400:,.0f} notifications completed "
        f"per day ({notified.started * 86_400:,.0f} scheduled)"
    )


if __name__ == "__main__":
    run_bench(main, __doc__)
