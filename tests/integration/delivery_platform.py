"""The message platform under test: a small settled month, prefixed topics, fast providers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from telebill.config import Settings, asyncpg_dsn
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.db_roles import DbRole
from telebill.domain.month import parse_month
from telebill.messaging.events import NotificationEvent
from telebill.messaging.outcome import OutcomeSink
from telebill.messaging.topics import Topics
from telebill.seed.load import seed_population
from telebill.stack.kafka_topics import ensure_topics
from telebill.templates.store import install_defaults
from tests.integration.conftest import Databases
from workers.dead_letter_consumer import DeadLetterConsumer
from workers.delivery_consumer import ChannelConsumer
from workers.temporal_worker import create_pool

MEMBERS = 20


class Platform:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
        self.settings, self.pool, self.conn = settings, pool, conn
        self.topics = Topics(settings.topic_prefix)

    async def publish(self, *values: bytes, key: bytes = b"1") -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_servers)
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(self.topics.channel("email"), value, key=key)
        finally:
            await producer.stop()

    async def publish_to(self, topic: str, *events: NotificationEvent) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_servers)
        await producer.start()
        try:
            for e in events:
                await producer.send(topic, e.to_bytes(), key=e.key)
            await producer.flush()
        finally:
            await producer.stop()

    async def run_until(
        self,
        done: Callable[[], Awaitable[bool]],
        within: float = 60,
        sink: OutcomeSink | None = None,
    ) -> None:
        stop = asyncio.Event()
        s, pool = self.settings, self.pool
        tasks = [
            asyncio.create_task(ChannelConsumer("email", s, pool, sink=sink).run(stop)),
            asyncio.create_task(ChannelConsumer("sms", s, pool, sink=sink).run(stop)),
            asyncio.create_task(DeadLetterConsumer(s, pool, sink=sink).run(stop)),
        ]
        try:
            deadline = asyncio.get_running_loop().time() + within
            while not await done():
                assert asyncio.get_running_loop().time() < deadline, (
                    "the chain did not finish in time"
                )
                for t in tasks:
                    if t.done():
                        t.result()  # a consumer that crashed fails the test with its error
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            # a consumer still waiting out an outage (its start, a poll) does not see `stop`:
            # it is cancelled, and the test fails instead of hanging
            stopped, stuck = await asyncio.wait(tasks, timeout=30)
            for t in stuck:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for t in stopped:
                t.result()  # a consumer that crashed fails the test with its error
            assert not stuck, f"{len(stuck)} consumer(s) did not stop within 30 s of `stop`"


def event(bill_id: int, member_id: int) -> NotificationEvent:
    return NotificationEvent(
        event_id=uuid.uuid4(), bill_id=bill_id, member_id=member_id, billing_month="2026-11"
    )


@pytest.fixture
async def platform(databases: Databases, settings: Settings) -> AsyncIterator[Platform]:
    async with platform_of(databases, settings, MEMBERS) as made:
        yield made


@contextlib.asynccontextmanager
async def platform_of(
    databases: Databases, settings: Settings, members: int
) -> AsyncIterator[Platform]:
    """A settled month of `members` in a database of its own, with topics of its own."""
    url = await databases.create()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    month = parse_month("2026-11")
    await seed_population(conn, members, month, None, workers=1)
    await settle_chunk(
        conn, month, "settlement-2026-11", 1, members, await load_products(conn, month)
    )
    await install_defaults(conn)
    # Quiet hours would defer some members depending on when the test runs; the deferral has a
    # test of its own that sets them.
    await conn.execute("UPDATE member SET quiet_start = NULL, quiet_end = NULL")
    m1 = await conn.fetchrow("SELECT email, phone FROM member WHERE id = 1")
    m2 = await conn.fetchrow("SELECT email FROM member WHERE id = 2")
    assert m1 is not None and m2 is not None
    prefix = f"it{uuid.uuid4().hex[:8]}."
    await ensure_topics(settings.kafka_servers, 3, prefix)
    custom = settings.model_copy(
        update={
            "database_url": url,
            "topic_prefix": prefix,
            "email_latency_s": 0.05,
            "email_failure_rate": 0.0,
            "sms_latency_s": 0.01,
            "sms_failure_rate": 0.0,
            "retry_base_delay_s": 0.2,
            "retry_factor": 2.0,
            "blackout_refresh_s": 0.0,
            "outcome_report_grace_s": 0.0,  # no publishing activity waits here: report at once
            # member 1 fails on both channels, member 2 only by e-mail
            "fail_addresses": f"{m1['email']},{m1['phone']},{m2['email']}",
        }
    )
    pool = await create_pool(custom, DbRole.CONSUMER)  # the consumers' own database role
    yield Platform(custom, pool, conn)
    await pool.close()
    await conn.close()
