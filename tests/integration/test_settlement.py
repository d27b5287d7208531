"""The settlement invariants on real PostgreSQL and the Temporal dev server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from telebill.amount_figures import read_amount_figures
from telebill.config import Settings
from telebill.contracts.settlement import SettlementSummary
from telebill.db.connect import connect
from telebill.domain.db_roles import DbRole
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from tests.integration.conftest import Databases
from workers.temporal_worker import build_worker, create_pool
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

NOV = "2026-11"


@dataclass
class Env:
    db_url: str
    conn: asyncpg.Connection
    client: Client
    task_queue: str
    settings: Settings

    def params(self, **kw: object) -> SettlementInput:
        base: dict[str, object] = {
            "shard_size": 700,
            "chunk_size": 250,
            "parallel": 3,
            "heartbeat_timeout_s": 5.0,
            "notify": False,  # the notification tests start them
        }
        base.update(kw)
        return SettlementInput(month=NOV, **base)  # type: ignore[arg-type]

    async def settle(self, workflow_id: str | None = None, **kw: object) -> SettlementSummary:
        return await self.client.execute_workflow(
            MonthlySettlementWorkflow.run,
            self.params(**kw),
            id=workflow_id or f"settlement-{NOV}-{uuid.uuid4().hex[:8]}",
            task_queue=self.task_queue,
        )


async def seeded_env(databases: Databases, settings: Settings, members: int) -> Env:
    url = await databases.create()
    conn = await connect(url)
    await seed_population(conn, members, parse_month(NOV), None, workers=1)
    client = await Client.connect(settings.temporal_target)
    return Env(url, conn, client, f"settle-{uuid.uuid4().hex[:8]}", settings)


@pytest.fixture
async def env(databases: Databases, settings: Settings) -> AsyncIterator[Env]:
    e = await seeded_env(databases, settings, 3_000)
    pool = await create_pool(settings.beside("settle", e.db_url), DbRole.WORKER)  # as its role
    async with build_worker(e.client, pool, settings, e.task_queue):
        yield e
    await pool.close()
    await e.conn.close()


async def assert_month_is_whole(conn: asyncpg.Connection, members: int, errors: int = 0) -> None:
    """Exactly one bill per member (but refused ones), and every bill with all of its items."""
    bills, distinct = await conn.fetchrow(
        "SELECT count(*), count(DISTINCT member_id) FROM bill WHERE billing_month = $1",
        parse_month(NOV),
    )  # type: ignore[misc]
    assert bills == distinct == members - errors
    # Items add up to the amount due for every bill, so none is missing; a settled bill has items.
    broken = await conn.fetchval(
        """
        SELECT count(*) FROM bill b
        LEFT JOIN (SELECT bill_id, sum(amount) AS total, count(*) AS n FROM bill_item GROUP BY 1) i
          ON i.bill_id = b.id
        WHERE coalesce(i.total, 0) <> b.amount_due OR (b.status = 'SETTLED' AND i.n IS NULL)
           OR b.amount_due % 10 <> 0
        """
    )
    assert broken == 0
    orphans = await conn.fetchval(
        "SELECT count(*) FROM bill_item i "
        "WHERE NOT EXISTS (SELECT 1 FROM bill b WHERE b.id = i.bill_id)"
    )
    assert orphans == 0


async def test_a_month_settles_once_and_a_second_run_has_nothing_left(env: Env) -> None:
    first = await env.settle()
    assert first.bills_created == 3_000 and first.bills == 3_000
    await assert_month_is_whole(env.conn, 3_000)
    assert 4.5 <= first.items / first.bills <= 5.5  # the seeded data gives about 5 items a bill
    assert sum(first.totals.values()) == first.amount_due
    # The seeded bills look like a Korean operator's (design section 4), and their rules ran.
    spread = await read_amount_figures(env.conn, parse_month(NOV))
    assert spread is not None
    assert 60_000 <= spread.median <= 100_000 and 60_000 <= spread.mean <= 100_000
    assert spread.p99 < 400_000 and spread.high_without_explanation == 0
    assert spread.prorated_lines > 0 and spread.throttled_plans > 0

    second = await env.settle()
    assert second.nothing_left and second.bills_created == 0 and second.items_created == 0
    assert (second.bills, second.items) == (first.bills, first.items)
    await assert_month_is_whole(env.conn, 3_000)
    runs = await env.conn.fetchval("SELECT runs FROM settlement WHERE id = 'settlement-2026-11'")
    assert runs == 2


async def test_two_starts_at_once_are_one_settlement(env: Env) -> None:
    wid = f"settlement-{NOV}-{uuid.uuid4().hex[:8]}"

    async def start() -> str:
        handle = await env.client.start_workflow(
            MonthlySettlementWorkflow.run,
            env.params(),
            id=wid,
            task_queue=env.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return str(handle.result_run_id)

    run_a, run_b = await asyncio.gather(start(), start())
    assert run_a == run_b
    summary = await env.client.get_workflow_handle(wid, result_type=SettlementSummary).result()
    assert summary.bills_created == 3_000
    await assert_month_is_whole(env.conn, 3_000)


async def test_edge_members_and_bad_data_do_not_stop_the_month(env: Env) -> None:
    c, month = env.conn, parse_month(NOV)
    # member 5 used nothing at all this month
    await c.execute("DELETE FROM usage_monthly WHERE member_id = 5")
    # member 7 is on a free plan with nothing else: every line is zero
    await c.execute(
        "INSERT INTO product (id, code, kind, name, monthly_fee) "
        "VALUES (999, 'FREE', 'plan', '무료', 0)"
    )
    await c.execute("DELETE FROM usage_monthly WHERE member_id = 7")
    await c.execute("DELETE FROM subscription WHERE member_id = 7 AND id % 8 <> 0")
    await c.execute(
        "UPDATE subscription SET product_id = 999, contract_discount = false WHERE member_id = 7"
    )
    # member 9 has a negative quantity; member 11 has usage on member 12's subscription
    await c.execute(
        "UPDATE usage_monthly SET data_mb = -40 WHERE member_id = 9 AND subscription_id = 72"
    )
    await c.execute(
        "INSERT INTO usage_monthly (billing_month, member_id, subscription_id, data_mb) "
        "VALUES ($1, 11, 96, 5)",
        month,
    )

    # member 13 spent past a micro-payment limit of 0 (blocked); member 15's plan moved more
    # data than its top speed can carry in a month
    await c.execute("UPDATE member SET micro_payment_limit_krw = 0 WHERE id = 13")
    await c.execute(
        "UPDATE usage_monthly SET micro_payment_krw = 1000 "
        "WHERE member_id = 13 AND subscription_id = 104"
    )
    await c.execute(
        "UPDATE subscription SET starts_on = '2024-01-01', ends_on = NULL WHERE id = 120"
    )
    await c.execute(
        "UPDATE usage_monthly SET data_mb = 10000000000 "
        "WHERE member_id = 15 AND subscription_id = 120"
    )

    summary = await env.settle()
    assert summary.errors == 4 and summary.bills == 2_996
    await assert_month_is_whole(c, 3_000, errors=4)
    reasons: dict[int, str] = {
        r[0]: r[1]
        for r in await c.fetch(
            "SELECT member_id, reason FROM settlement_error WHERE billing_month = $1", month
        )
    }
    assert "negative data_mb" in reasons[9]
    assert "not the member's" in reasons[11]
    assert reasons[13] == "micro-payments of 1,000원 over the member's monthly limit of 0원"
    assert "10,000,000,000 MB of data on subscription 120: more than the" in reasons[15]

    kinds = [
        r[0]
        for r in await c.fetch(
            "SELECT kind FROM bill_item i JOIN bill b ON b.id = i.bill_id "
            "WHERE b.member_id = 5 ORDER BY line_no"
        )
    ]
    assert (
        kinds[0] == "PLAN_FEE" and "VAT" in kinds and not any(k.endswith("OVERAGE") for k in kinds)
    )
    free = await c.fetchrow("SELECT status, amount_due, id FROM bill WHERE member_id = 7")
    assert free is not None and (free["status"], free["amount_due"]) == ("NOTHING_DUE", 0)
    assert await c.fetchval("SELECT count(*) FROM bill_item WHERE bill_id = $1", free["id"]) == 0

    # Once the data is fixed, the next run bills member 9 and clears its recorded error.
    await c.execute(
        "UPDATE usage_monthly SET data_mb = 40 WHERE member_id = 9 AND subscription_id = 72"
    )
    again = await env.settle()
    assert again.bills_created == 1 and again.errors == 3
    assert await c.fetchval("SELECT count(*) FROM settlement_error WHERE member_id = 9") == 0


def start_worker(env: Env, **settings: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "starters.cli", "worker", "--task-queue", env.task_queue],
        env={**os.environ, "DATABASE_URL": env.db_url, **settings},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_killing_the_worker_mid_month_loses_and_doubles_nothing(
    databases: Databases, settings: Settings
) -> None:
    members = 12_000
    env = await seeded_env(databases, settings, members)
    worker = start_worker(env)
    replacement: subprocess.Popen[bytes] | None = None
    try:
        handle = await env.client.start_workflow(
            MonthlySettlementWorkflow.run,
            env.params(shard_size=1_500, chunk_size=300, parallel=2, heartbeat_timeout_s=3.0),
            id=f"settlement-{NOV}-{uuid.uuid4().hex[:8]}",
            task_queue=env.task_queue,
        )
        for _ in range(600):  # until a good part, not all, of the month is written
            billed = await env.conn.fetchval("SELECT count(*) FROM bill")
            if billed >= 2_000:
                break
            await asyncio.sleep(0.1)
        assert 0 < billed < members, billed
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        replacement = start_worker(env)
        summary = await asyncio.wait_for(handle.result(), timeout=240)
        assert summary.bills == members and summary.errors == 0
        await assert_month_is_whole(env.conn, members)
    finally:
        for proc in (worker, replacement):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait()
        await env.conn.close()


@pytest.mark.slow
async def test_several_workers_on_one_task_queue_share_a_month(
    databases: Databases, settings: Settings
) -> None:
    env = await seeded_env(databases, settings, 6_000)
    # One activity at a time each, four shards at once: both workers must take shards.
    workers = [start_worker(env, TELEBILL_WORKER_MAX_ACTIVITIES="1") for _ in range(2)]
    try:
        wid = f"settlement-{NOV}-{uuid.uuid4().hex[:8]}"
        summary = await asyncio.wait_for(
            env.settle(wid, shard_size=500, chunk_size=250, parallel=4), timeout=180
        )
        assert summary.bills_created == 6_000
        await assert_month_is_whole(env.conn, 6_000)
        identities = set()
        for index in range(1, 13):
            child = env.client.get_workflow_handle(f"{wid}/shard-{index:04d}")
            async for event in child.fetch_history_events():
                if event.HasField("activity_task_started_event_attributes"):
                    identities.add(event.activity_task_started_event_attributes.identity)
        assert len(identities) == 2, identities
    finally:
        for proc in workers:
            proc.terminate()
            proc.wait()
        await env.conn.close()
