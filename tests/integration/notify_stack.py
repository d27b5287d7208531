"""A month ready to notify on the real stack: a throw-away database with settled-ready members,
prefixed topics, a task queue and workflow ids of its own, the clock set so every bill is due,
and a worker plus the three consumers running in the test's process."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client

from telebill.clock import offset_to
from telebill.config import Settings, asyncpg_dsn
from telebill.domain.db_roles import DbRole
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from telebill.stack.kafka_topics import ensure_topics
from telebill.templates.store import install_defaults
from tests.helpers import all_by_email
from tests.integration.conftest import Databases
from workers.dead_letter_consumer import DeadLetterConsumer
from workers.delivery_consumer import ChannelConsumer
from workers.temporal_worker import build_worker, create_pool

MONTH = "2026-11"
PRETEND = datetime(2026, 12, 31, 14, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # every day has passed


@dataclass
class NotifyStack:
    settings: Settings
    conn: asyncpg.Connection
    client: Client
    tag: str

    def env(self) -> dict[str, str]:
        """The same installation for a `telebill` subprocess."""
        return os.environ | self.settings.process_env()

    def workflow_id(self, member: int) -> str:
        return f"{self.settings.workflow_id_prefix}notify-{MONTH}-{member}"


async def prepare(
    databases: Databases,
    settings: Settings,
    members: int,
    failing: tuple[int, ...] = (),
    pretend: datetime = PRETEND,
) -> NotifyStack:
    """Members with usage of MONTH; those in `failing` fail by e-mail, the first of them by SMS
    as well (so one ends as a dead letter and the others by SMS)."""
    url = await databases.create()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await seed_population(conn, members, parse_month(MONTH), None, workers=1)
    await all_by_email(conn)
    await install_defaults(conn)
    # Quiet hours abroad could defer some past a test's patience; Seoul's seeded windows leave
    # 14:00 free, the instant the clock is set to.
    await conn.execute(
        "UPDATE member SET quiet_start = NULL, quiet_end = NULL WHERE timezone <> 'Asia/Seoul'"
    )
    addresses = []
    for i, member in enumerate(failing):
        row = await conn.fetchrow("SELECT email, phone FROM member WHERE id = $1", member)
        assert row is not None
        addresses += [row["email"], row["phone"]] if i == 0 else [row["email"]]
    tag = uuid.uuid4().hex[:8]
    s = settings.beside(
        f"n{tag}",
        url,
        clock_offset_s=offset_to(pretend),
        email_latency_s=0.05,
        sms_latency_s=0.01,
        email_failure_rate=0.0,
        sms_failure_rate=0.0,
        retry_base_delay_s=0.2,
        retry_factor=2.0,
        fail_addresses=",".join(addresses),
    )
    await ensure_topics(s.kafka_servers, 3, s.topic_prefix)
    return NotifyStack(s, conn, await Client.connect(s.temporal_target), tag)


@asynccontextmanager
async def running(stack: NotifyStack) -> AsyncIterator[None]:
    """A worker and the e-mail, SMS and DLQ consumers of this installation, until the block ends."""
    s = stack.settings
    # Each as the database role its process has (telebill/db/roles.py): a grant missing
    # from the roles fails these tests.
    pool = await create_pool(s, DbRole.WORKER)
    delivery = await create_pool(s, DbRole.CONSUMER)
    stop = asyncio.Event()
    consumers = [
        asyncio.create_task(ChannelConsumer("email", s, delivery).run(stop)),
        asyncio.create_task(ChannelConsumer("sms", s, delivery).run(stop)),
        asyncio.create_task(DeadLetterConsumer(s, delivery).run(stop)),
    ]
    try:
        async with build_worker(stack.client, pool, s, s.task_queue):
            yield
    finally:
        stop.set()
        await asyncio.gather(*consumers)
        await pool.close()
        await delivery.close()
