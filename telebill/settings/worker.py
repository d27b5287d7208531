"""The Temporal worker (`telebill worker`): its slots and polls, the settlement's sizes, the
Schedules, retention, and the gauges it keeps."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class WorkerSettings(BaseSettings):
    model_config = SECTION_CONFIG

    # Worker: how much one `telebill worker` process takes on at once.
    # Activities mostly wait (Kafka, PostgreSQL, a notification's outcome: a publishing activity
    # holds its slot for the provider's latency and up to notify_outcome_wait_s), so there are
    # many slots; the settlement's own concurrency is bounded by settle_parallel.
    worker_max_activities: int = Field(default=256, ge=1)
    # A notification's workflow task stays open while its local activity publishes and waits
    # briefly for the outcome (notify_local_outcome_wait_s), so there are many task slots; the
    # workflow code itself runs on a few threads (it is Python: more would only contend).
    worker_max_workflow_tasks: int = Field(default=400, ge=1)
    worker_max_local_activities: int = Field(default=400, ge=1)
    worker_workflow_threads: int = Field(default=4, ge=1)
    # Workflow task polls in flight, and the share of them on the task queue itself rather than
    # on this worker's sticky queue. Most notification tasks are a workflow's first (it woke
    # from a delayed start, on no worker's cache), so the SDK's default (5 polls, a fifth of
    # them on the queue: one) held a send day to the rate of one poll loop.
    worker_workflow_polls: int = Field(default=16, ge=2)
    worker_nonsticky_poll_ratio: float = Field(default=0.75, gt=0, le=1)

    # Settlement: members per shard (child workflow), per chunk (one transaction), shards at once.
    settle_shard_size: int = Field(default=20_000, ge=1)
    settle_chunk_size: int = Field(default=5_000, ge=1)
    settle_parallel: int = Field(default=3, ge=1)
    # Processes that price the chunks (activities/settlement_pool.py); 0: on the event loop.
    settle_processes: int = Field(default=2, ge=0, le=64)
    settle_heartbeat_timeout_s: float = Field(default=60.0, gt=0)

    # The monthly Schedule: day 1 at this local time settles the previous month.
    settle_schedule_time: str = Field(default="02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    schedule_time_zone: str = "Asia/Seoul"
    # The daily dispatch's Schedule (see notify_start_horizon_h), in the same zone.
    dispatch_schedule_time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    # Retention (telebill archive): months older than this many are archived to Parquet and
    # their partitions dropped by the monthly retention Schedule (day 2, this local time);
    # archives are kept this many years (the law asks five: 전자상거래법, 대금결제 기록).
    archive_dir: Path | None = None  # None: <stack_dir>/archive
    archive_months_online: int = Field(default=24, ge=1)
    archive_keep_years: int = Field(default=5, ge=5)
    archive_schedule_time: str = Field(default="03:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    # The Temporal SDK's own metrics (default: TELEBILL_METRICS_PORT + 1).
    sdk_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    stuck_gauge_interval_s: float = Field(default=60.0, gt=0)  # the worker counts STUCK this often
    # The overdue gauges (same interval): a bill planned this long ago without its workflow, or
    # this plus TELEBILL_NOTIFY_STUCK_AFTER_S ago without an outcome, is overdue.
    overdue_grace_s: float = Field(default=3600.0, gt=0)
