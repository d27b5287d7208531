"""The whole month on the real stack: settle → notification workflows → Kafka consumers →
outcome reported back. Every bill ends in exactly one terminal state, the same in PostgreSQL
and in Temporal (workflow result and NotifyStatus)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client

from telebill.config import Settings, asyncpg_dsn
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from telebill.stack.kafka import ensure_topics
from telebill.templates.store import install_defaults
from tests.integration.conftest import Databases
from workers.delivery_consumer import ChannelConsumer, DeadLetterConsumer
from workers.temporal_worker import build_worker
from workflows.notification import NOTIFY_STATUS, DispatchResult
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

MEMBERS = 120
MONTH = "2026-11"


async def test_a_month_is_settled_notified_and_every_bill_ends_in_one_state(
    databases: Databases, settings: Settings
) -> None:
    url = await databases.create()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await seed_population(conn, MEMBERS, parse_month(MONTH), None, workers=1)
    await install_defaults(conn)
    # Quiet hours abroad could defer some past the test's patience; Seoul's seeded windows
    # leave 14:00 free, the instant the clock is set to.
    await conn.execute(
        "UPDATE member SET quiet_start = NULL, quiet_end = NULL WHERE timezone <> 'Asia/Seoul'"
    )
    m1 = await conn.fetchrow("SELECT email FROM member WHERE id = 1")
    m2 = await conn.fetchrow("SELECT email, phone FROM member WHERE id = 2")
    assert m1 and m2
    tag = uuid.uuid4().hex[:8]
    pretend = datetime(2026, 12, 31, 14, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # every day passed
    s = settings.model_copy(
        update={
            "database_url": url,
            "topic_prefix": f"e2e{tag}.",
            "workflow_id_prefix": f"e2e{tag}-",
            "task_queue": f"e2e-{tag}",
            "clock_offset_s": (pretend - datetime.now(UTC)).total_seconds(),
            "email_latency_s": 0.05,
            "sms_latency_s": 0.01,
            "email_failure_rate": 0.0,
            "sms_failure_rate": 0.0,
            "retry_base_delay_s": 0.2,
            "retry_factor": 2.0,
            # member 1's e-mail fails (→ SMS); member 2's e-mail and phone fail (→ dead letter)
            "fail_addresses": f"{m1['email']},{m2['email']},{m2['phone']}",
        }
    )
    await ensure_topics(s.kafka_servers, 3, s.topic_prefix)
    client = await Client.connect(s.temporal_target)
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=8)
    assert pool is not None
    stop = asyncio.Event()
    consumers = [
        asyncio.create_task(ChannelConsumer("email", s, pool).run(stop)),
        asyncio.create_task(ChannelConsumer("sms", s, pool).run(stop)),
        asyncio.create_task(DeadLetterConsumer(s, pool).run(stop)),
    ]
    try:
        async with build_worker(client, pool, s, s.task_queue):
            settlement_id = f"e2e{tag}-settlement-{MONTH}"
            summary = await client.execute_workflow(
                MonthlySettlementWorkflow.run,
                SettlementInput(MONTH, shard_size=50, chunk_size=25, parallel=2),
                id=settlement_id,
                task_queue=s.task_queue,
            )
            assert summary.bills == MEMBERS  # reported before any notification went out
            dispatched = await client.get_workflow_handle(
                f"{settlement_id}/dispatch", result_type=DispatchResult
            ).result()
            assert dispatched.started == MEMBERS
            ids = {m: f"e2e{tag}-notify-{MONTH}-{m}" for m in range(1, MEMBERS + 1)}
            results = await asyncio.wait_for(
                asyncio.gather(*(client.get_workflow_handle(w).result() for w in ids.values())),
                timeout=600,
            )
            from_temporal = dict(zip(ids, results, strict=True))
            attributes = {}
            for member, wid in ids.items():
                described = await client.get_workflow_handle(wid).describe()
                attributes[member] = described.typed_search_attributes.get(NOTIFY_STATUS)
    finally:
        stop.set()
        await asyncio.gather(*consumers)
        await pool.close()
    rows = await conn.fetch(
        "SELECT b.member_id, array_agg(n.status) AS statuses FROM bill b "
        "LEFT JOIN notification n ON n.bill_id = b.id GROUP BY b.member_id"
    )
    in_db = {r["member_id"]: r["statuses"] for r in rows}
    await conn.close()
    assert len(in_db) == MEMBERS
    assert all(len(v) == 1 for v in in_db.values())  # one notification per bill
    assert {m: v[0] for m, v in in_db.items()} == from_temporal == attributes
    assert from_temporal[1] == "DELIVERED_SMS" and from_temporal[2] == "DEAD_LETTER"
    assert sum(1 for v in from_temporal.values() if v == "DELIVERED_EMAIL") == MEMBERS - 2
