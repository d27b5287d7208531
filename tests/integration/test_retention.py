"""The retention Schedule's workflow on a real worker: the months past the online span are
archived (and dropped), the months kept stay, the archives past the years kept are removed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio.client import Client

from telebill.archive.months import run_retention
from telebill.config import Settings
from telebill.contracts.retention import RetentionInput
from telebill.db import archive_store
from telebill.db.connect import connect
from telebill.domain.db_roles import DbRole
from telebill.queues import WorkQueue
from tests.integration.conftest import Databases
from tests.integration.test_archive import a_whole_month
from workers.temporal_worker import build_worker, create_pool
from workflows.retention import MonthlyRetentionWorkflow

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)


async def test_the_retention_workflow_archives_what_is_past_the_online_span(
    databases: Databases, settings: Settings, tmp_path: Path
) -> None:
    url = await databases.create()
    conn = await connect(url)
    queue = f"retention-{uuid.uuid4().hex[:8]}"
    s = settings.beside("retention", url).model_copy(
        update={"archive_dir": tmp_path, "archive_months_online": 1, "task_queue": queue}
    )
    pool = await create_pool(s, DbRole.WORKER)  # as the worker's role, as in production
    try:
        await a_whole_month(conn, OCT)
        await a_whole_month(conn, NOV)
        client = await Client.connect(settings.temporal_target)
        async with build_worker(client, pool, s, queue):
            result = await client.execute_workflow(
                MonthlyRetentionWorkflow.run,
                RetentionInput(time_zone="Asia/Seoul"),
                id=f"retention-{uuid.uuid4().hex[:8]}",
                task_queue=WorkQueue.SETTLEMENT.name_in(s),
            )
        # whatever today is (from December 2026 on), October is past a one-month span
        assert "2026-10" in result.archived and result.rows > 0
        assert (tmp_path / "2026-10" / "manifest.json").is_file()
        assert OCT not in await archive_store.online_months(conn)
    finally:
        await pool.close()
        await conn.close()


async def test_retention_counts_months_in_its_zone_and_expires_old_archives(
    databases: Databases, tmp_path: Path
) -> None:
    conn = await connect(await databases.create())
    try:
        await a_whole_month(conn, OCT)
        await a_whole_month(conn, NOV)
        old = tmp_path / "an-earlier-archive-folder" / "2021-10"  # where it was written
        old.mkdir(parents=True)
        await archive_store.record_archive(conn, date(2021, 10, 1), str(old), "x", {}, 0)
        await archive_store.record_archive(conn, date(2021, 11, 1), str(old), "x", {}, 0)
        # 2026-12-31 16:00 UTC is already January in Seoul: two months online means November
        # and December are kept, October goes; five years back from January 2027 is January 2022
        now = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
        done = await run_retention(
            conn, now, "Asia/Seoul", months_online=2, keep_years=5, root=tmp_path
        )
        assert done.archived == ["2026-10"]
        assert done.expired == ["2021-10", "2021-11"] and not old.exists()
        assert [a.billing_month for a in await archive_store.archives(conn)] == [OCT]
        assert await archive_store.online_months(conn) == [NOV]
        # the same instant in UTC is still December: one month online keeps November
        again = await run_retention(
            conn,
            datetime(2026, 12, 31, 14, 0, tzinfo=UTC),
            "UTC",
            months_online=1,
            keep_years=5,
            root=tmp_path,
        )
        assert again.archived == [] and again.expired == []
    finally:
        await conn.close()
