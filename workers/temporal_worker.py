"""`telebill worker`: hosts the workflows and activities, one Temporal worker per task queue
(settlement, dispatch, notification: `telebill.queues`), each with slots of its own.

Stateless: run as many as you like, on one machine or many, each on all queues or some
(`--queues`); Temporal hands each task to one of them.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.notification import NotificationActivities
from activities.settlement import SettlementActivities
from telebill.config import Settings, asyncpg_dsn
from telebill.queues import WorkQueue
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

SETTLEMENT: Sequence[type] = (
    MonthlySettlementWorkflow,
    SettlementShardWorkflow,
    ScheduledSettlementWorkflow,
)
DISPATCH: Sequence[type] = (DispatchWorkflow, ScheduledDispatchWorkflow)
WORKFLOWS: Sequence[type] = (*SETTLEMENT, BillNotificationWorkflow, *DISPATCH)


async def create_pool(settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.db_url), min_size=1, max_size=settings.db_pool_size
    )
    assert pool is not None
    return pool


def worker_options(settings: Settings) -> dict[str, Any]:
    """How much a worker takes on at once (the benchmarks give their baselines the same)."""
    return {
        "max_concurrent_activities": settings.worker_max_activities,
        "max_concurrent_workflow_tasks": settings.worker_max_workflow_tasks,
        "max_concurrent_local_activities": settings.worker_max_local_activities,
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(
            settings.worker_workflow_polls
        ),
        "nonsticky_to_sticky_poll_ratio": settings.worker_nonsticky_poll_ratio,
    }


@asynccontextmanager
async def build_worker(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    task_queue: str | None = None,
    queues: Sequence[WorkQueue] = tuple(WorkQueue),
) -> AsyncIterator[list[Worker]]:
    """Running workers on `queues` (named after `task_queue`, default TELEBILL_TASK_QUEUE);
    they stop (gracefully) on exit.

    The notification queue hosts every workflow and activity, not only the notifications:
    settlements, dispatches and Schedules started there by a version before the queues were
    split must still find a worker after an upgrade."""
    if task_queue is not None:
        settings = settings.model_copy(update={"task_queue": task_queue})
    settlement = SettlementActivities(pool)
    notification = NotificationActivities(pool, settings, client, settings.task_queue)
    settling = [settlement.open_settlement, settlement.settle_shard, settlement.close_settlement]
    dispatching = [
        notification.month_scope,
        notification.start_range,
        notification.undispatched_reservations,
        notification.reservation_dispatched,
    ]
    notifying = [notification.plan, notification.outcome]
    hosted: dict[WorkQueue, tuple[Sequence[type], list[Any]]] = {
        WorkQueue.SETTLEMENT: (SETTLEMENT, settling),
        WorkQueue.DISPATCH: (DISPATCH, dispatching),
        WorkQueue.NOTIFICATION: (WORKFLOWS, [*settling, *dispatching, *notifying]),
    }
    threads = ThreadPoolExecutor(settings.worker_workflow_threads, "workflow")
    workers = [
        Worker(
            client,
            task_queue=queue.name_in(settings),
            workflows=list(hosted[queue][0]),
            activities=hosted[queue][1],
            workflow_task_executor=threads,
            graceful_shutdown_timeout=timedelta(seconds=10),
            **worker_options(settings),
        )
        for queue in queues
    ]
    try:
        async with AsyncExitStack() as stack:
            for worker in workers:
                await stack.enter_async_context(worker)
            yield workers
    finally:
        await notification.close()
        threads.shutdown(wait=False)


async def run_worker(
    settings: Settings,
    task_queue: str | None = None,
    queues: Sequence[WorkQueue] = tuple(WorkQueue),
) -> None:
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
        async with build_worker(client, pool, settings, task_queue, queues):
            await stop.wait()
    finally:
        await pool.close()
