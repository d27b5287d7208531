"""The retention Schedule's I/O: archive the months older than TELEBILL_ARCHIVE_MONTHS_ONLINE,
remove the archives older than TELEBILL_ARCHIVE_KEEP_YEARS (telebill/service/archive.py)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
from temporalio import activity

from telebill.archive.months import archive_root, run_retention
from telebill.config import Settings
from telebill.contracts.retention import ARCHIVE_DUE, RetentionRequest, RetentionResult


class RetentionActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings

    @activity.defn(name=ARCHIVE_DUE)
    async def archive_due(self, req: RetentionRequest) -> RetentionResult:
        s = self.settings
        async with self.pool.acquire() as conn:
            return await run_retention(
                conn,
                datetime.fromisoformat(req.now),
                req.time_zone,
                months_online=s.archive_months_online,
                keep_years=s.archive_keep_years,
                root=archive_root(s.archive_dir, s.stack_dir),
                # one heartbeat per table written: a month of 1M bills is minutes of work
                on_table=lambda table, rows: activity.heartbeat(table, rows),
            )
