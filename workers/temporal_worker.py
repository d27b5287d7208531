"""`telebill worker`: hosts the workflows and activities on the task queue.

Stateless: run as many as you like on one task queue, on one machine or many; Temporal hands each
task to one of them.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from activities.notification import NotificationActivities
from activities.settlement import SettlementActivities
from telebill.config import Settings, asyncpg_dsn
from workflows.notification import (
    BillNotificationWorkflow,
    DispatchWorkflow,
    ScheduledDispatchWorkflow,
)
from workflows.settlement import (
    MonthlySettlementWorkflow,
    ScheduledSettlementWorkflow,
    SettlementShardWorkflow,
)

WORKFLOWS: Sequence[type] = (
    MonthlySettlementWorkflow,
    SettlementShardWorkflow,
    ScheduledSettlementWorkflow,
    BillNotificationWorkflow,
    DispatchWorkflow,
    ScheduledDispatchWorkflow,
)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.db_url), min_size=1, max_size=settings.db_pool_size
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def build_worker(
    client: Client, pool: asyncpg.Pool, settings: Settings, task_queue: str
) -> AsyncIterator[Worker]:
    """A running worker hosting every workflow and activity; stops (gracefully) on exit."""
    settlement = SettlementActivities(pool)
    notification = NotificationActivities(pool, settings, client, task_queue)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[
            settlement.open_settlement,
            settlement.settle_shard,
            settlement.close_settlement,
            notification.plan,
            notification.outcome,
            notification.month_scope,
            notification.start_range,
            notification.undispatched_reservations,
            notification.reservation_dispatched,
        ],
        max_concurrent_activities=settings.worker_max_activities,
        max_concurrent_workflow_tasks=settings.worker_max_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )
    try:
        async with worker:
            yield worker
    finally:
        await notification.close()


async def run_worker(settings: Settings, task_queue: str | None = None) -> None:
    from telebill.db.migrate import ensure_schema
    from telebill.resilience import wait_out

    # A worker never runs against an older schema; started while PostgreSQL is down, it waits.
    await wait_out("PostgreSQL (start)", lambda: ensure_schema(settings.db_url))
    client = await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)
    pool = await wait_out("PostgreSQL (start)", lambda: create_pool(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with build_worker(client, pool, settings, task_queue or settings.task_queue):
            await stop.wait()
    finally:
        await pool.close()
