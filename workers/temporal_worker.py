"""`telebill worker`: hosts the workflows and activities, one Temporal worker per task queue
(settlement, dispatch, notification: `telebill.queues`), each with slots of its own.

Stateless: run as many as you like, on one machine or many, each on all queues or some
(`--queues`); Temporal hands each task to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.notification import NotificationActivities
from activities.retention import RetentionActivities
from activities.settlement import SettlementActivities
from activities.settlement_pool import PricingPool
from telebill import clock
from telebill.config import Settings
from telebill.db.overdue_store import overdue_notifications
from telebill.db.tally_store import fold
from telebill.db_pool import create_pool
from telebill.metrics import (
    OVERDUE,
    OVERDUE_OLDEST,
    SCHEDULE_INSTALLED,
    SCHEDULE_LAST_ACTION,
    SCHEDULE_LAST_FAILED,
    SCHEDULE_MISSED,
    SCHEDULE_PAUSED,
    SCHEDULE_SKIPPED,
    STUCK,
)
from telebill.notify_search import stuck_count
from telebill.probe_server import serve_metrics
from telebill.queues import WorkQueue
from telebill.resilience import supervise
from telebill.service.bootstrap import worker_process
from telebill.service.schedules import SCHEDULE_IDS, view
from telebill.shutdown import stop_on_signals
from telebill.temporal_gateway import TemporalGateway
from workflows.dispatch import DispatchWorkflow, ScheduledDispatchWorkflow
from workflows.notification import BillNotificationWorkflow
from workflows.retention import MonthlyRetentionWorkflow
from workflows.settlement import (
    MonthlySettlementWorkflow,
    ScheduledSettlementWorkflow,
    SettlementShardWorkflow,
)

log = logging.getLogger(__name__)

__all__ = ["build_worker", "create_pool", "run_worker"]

SETTLEMENT: Sequence[type] = (
    MonthlySettlementWorkflow,
    SettlementShardWorkflow,
    ScheduledSettlementWorkflow,
    MonthlyRetentionWorkflow,  # the month's data, like its settlement: on the settlement queue
)
DISPATCH: Sequence[type] = (DispatchWorkflow, ScheduledDispatchWorkflow)
WORKFLOWS: Sequence[type] = (*SETTLEMENT, BillNotificationWorkflow, *DISPATCH)


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
    pricing = PricingPool(settings.settle_processes)
    if WorkQueue.SETTLEMENT in queues:
        pricing.warm()
    settlement = SettlementActivities(pool, pricing)
    notification = NotificationActivities(pool, settings, client, settings.task_queue)
    retention = RetentionActivities(pool, settings)
    settling = [
        settlement.open_settlement,
        settlement.settle_shard,
        settlement.close_settlement,
        retention.archive_due,
    ]
    dispatching = [
        notification.month_scope,
        notification.start_range,
        notification.undispatched_reservations,
        notification.undispatched_reservation_refs,
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
            # running activities get half the shutdown time, then are cancelled (Temporal
            # retries them elsewhere); the rest is for the SDK's own shutdown
            graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_timeout_s / 2),
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
        pricing.close()
        threads.shutdown(wait=False)
        await notification.close()


async def run_worker(
    settings: Settings,
    task_queue: str | None = None,
    queues: Sequence[WorkQueue] = tuple(WorkQueue),
) -> None:
    monitored = False

    def monitoring() -> Runtime | None:
        """The metrics, once the schema is there (until then the worker is down to Prometheus,
        as it is to Temporal); the SDK's runtime is built from the same port."""
        nonlocal monitored
        monitored = serve_metrics(settings) is not None
        return sdk_runtime(settings) if monitored else None

    # A worker never runs against an older schema; started while PostgreSQL is down, it waits.
    async with worker_process(settings, monitoring) as parts:
        await _serve(settings, parts.client, parts.pool, task_queue, queues, monitored)


async def _serve(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    task_queue: str | None,
    queues: Sequence[WorkQueue],
    monitored: bool,
) -> None:
    stop = asyncio.Event()
    stop_on_signals("worker", settings.shutdown_timeout_s, stop)
    gauges = [
        asyncio.create_task(supervise("month counts", lambda: keep_the_tally(pool, stop), stop))
    ]
    if monitored:
        gauges.append(
            asyncio.create_task(
                supervise("STUCK gauge", lambda: count_stuck(client, settings, stop), stop)
            )
        )
        gauges.append(
            asyncio.create_task(
                supervise(
                    "Schedule and overdue gauges",
                    lambda: watch_the_bridge(client, pool, settings, stop),
                    stop,
                )
            )
        )
    try:
        async with build_worker(client, pool, settings, task_queue, queues):
            await stop.wait()
    finally:
        stop.set()
        await asyncio.gather(*gauges, return_exceptions=True)


def sdk_runtime(settings: Settings) -> Runtime:
    """The Temporal SDK's own metrics (task latencies, slots, polls, sticky cache) served by
    its runtime on TELEBILL_SDK_METRICS_PORT, or the metrics port + 1."""
    assert settings.metrics_port is not None
    port = settings.sdk_metrics_port or settings.metrics_port + 1
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{settings.metrics_host}:{port}")
        )
    )


async def count_stuck(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """The STUCK gauge: one count of the visibility store per interval, not per workflow."""
    while not stop.is_set():
        try:
            STUCK.set(await stuck_count(client, settings))
        except RPCError as exc:  # the visibility store busy or away: the gauge keeps its value
            log.warning("STUCK not counted: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.stuck_gauge_interval_s)


async def refresh_bridge_gauges(client: Client, pool: asyncpg.Pool, settings: Settings) -> None:
    """The Schedules' gauges (one describe each, and one of each latest run's workflow) and the
    overdue bills' (one query). Bills planned beyond the start horizon depend on the daily
    dispatch: these are what page when it is missing, paused, failing or late, and when bills
    are past their instant without a workflow or an outcome."""
    await refresh_schedule_gauges(client, settings)
    await refresh_overdue_gauges(pool, settings)


async def refresh_schedule_gauges(client: Client, settings: Settings) -> None:
    """Both Schedules' gauges: one describe each, and one of each latest run's workflow."""
    temporal = TemporalGateway(client, settings)
    for schedule_id in SCHEDULE_IDS:
        seen = await view(temporal, schedule_id, runs=2)  # the latest finished one is in these
        SCHEDULE_INSTALLED.labels(schedule_id).set(int(seen.installed))
        SCHEDULE_PAUSED.labels(schedule_id).set(int(seen.paused))
        SCHEDULE_LAST_FAILED.labels(schedule_id).set(int(seen.last_failed))
        SCHEDULE_MISSED.labels(schedule_id).set(seen.missed_catchup_window)
        SCHEDULE_SKIPPED.labels(schedule_id).set(seen.skipped_overlap)
        last = seen.last_action_at
        SCHEDULE_LAST_ACTION.labels(schedule_id).set(last.timestamp() if last else 0)


async def refresh_overdue_gauges(pool: asyncpg.Pool, settings: Settings) -> None:
    """The overdue bills' gauges: one query, as the worker's database role."""
    async with pool.acquire() as conn:
        overdue = await overdue_notifications(
            conn,
            clock.now(settings),  # the clock the bills were planned by
            timedelta(seconds=settings.overdue_grace_s),
            timedelta(seconds=settings.notify_stuck_after_s),
        )
    OVERDUE.labels("no_workflow").set(overdue.no_workflow)
    OVERDUE.labels("no_outcome").set(overdue.no_outcome)
    OVERDUE_OLDEST.set(overdue.oldest_age_s)


TALLY_FOLD_EVERY_S = 30.0  # the month's deltas read by the status are at most this old to fold


async def keep_the_tally(pool: asyncpg.Pool, stop: asyncio.Event) -> None:
    """Fold the month's count deltas (migration 0019) every TALLY_FOLD_EVERY_S, so a month
    status sums a few rows; every worker may, one at a time folds (the others find it locked).
    PostgreSQL away: the supervisor restarts this after the outage (the counts stay exact
    meanwhile, only their deltas grow)."""
    while not stop.is_set():
        async with pool.acquire() as conn:
            await fold(conn)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TALLY_FOLD_EVERY_S)


async def watch_the_bridge(
    client: Client, pool: asyncpg.Pool, settings: Settings, stop: asyncio.Event
) -> None:
    """`refresh_bridge_gauges` every TELEBILL_STUCK_GAUGE_INTERVAL_S; Temporal or PostgreSQL
    away: the gauges keep their values (a Schedule that stops acting shows as late) and the
    supervisor restarts this loop after an outage."""
    while not stop.is_set():
        try:
            await refresh_bridge_gauges(client, pool, settings)
        except RPCError as exc:
            log.warning("Schedules not read: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.stuck_gauge_interval_s)
