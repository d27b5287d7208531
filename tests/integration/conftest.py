"""Integration tests run against the real services; the stack is brought up if it is not running."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from telebill.config import Settings
from telebill.db import migrate as migrations
from telebill.db.connect import connect
from telebill.messaging.topics import all_topics
from telebill.stack.kafka_topics import delete_topics, topic_names
from telebill.stack.manager import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
async def stack_running(settings: Settings) -> AsyncIterator[None]:
    outcomes = await Stack(settings).up()
    failed = [f"{o.service}: {o.message}" for o in outcomes if not o.ok]
    if failed:
        pytest.fail("the stack did not come up: " + "; ".join(failed), pytrace=False)
    before = await topic_names(settings.kafka_servers)
    yield
    # The topics the tests' installations created: left behind, every run adds hundreds of
    # partitions to the stack's broker (see telebill.stack.kafka_topics.delete_topics).
    try:
        main = set(all_topics(settings.topic_prefix))
        after = await topic_names(settings.kafka_servers)
        await delete_topics(
            settings.kafka_servers,
            # a benchmark or a drill running beside the tests (prefixes bench<tag>. and
            # drill<tag>.) keeps its own: a drill lost its topics to this once
            {
                t
                for t in after - before
                if t not in main and not t.startswith(("__", "bench", "drill"))
            },
        )
    except Exception as exc:  # a test that stopped Kafka for good: nothing to tidy then
        warnings.warn(f"the tests' topics were not deleted: {exc!r}", stacklevel=1)


class Databases:
    """Creates throw-away databases beside the main one, so tests never see each other's rows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.created: list[str] = []

    async def create(self, migrated: bool = True) -> str:
        name = f"tb_test_{uuid.uuid4().hex[:10]}"
        admin = await connect(self.settings.db_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        self.created.append(name)
        url = make_url(self.settings.db_url).set(database=name)
        db_url = url.render_as_string(hide_password=False)
        if migrated:
            await asyncio.to_thread(migrations.upgrade, db_url)
        return db_url

    async def drop_all(self) -> None:
        admin = await connect(self.settings.db_url)
        try:
            for name in self.created:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def databases(settings: Settings) -> AsyncIterator[Databases]:
    dbs = Databases(settings)
    yield dbs
    await dbs.drop_all()


@pytest.fixture
async def db(databases: Databases) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a fresh database at the latest schema."""
    conn = await connect(await databases.create())
    yield conn
    await conn.close()


# The message platform fixture, shared by the delivery tests (defined beside its helpers).
from tests.integration.delivery_platform import platform  # noqa: E402, F401
