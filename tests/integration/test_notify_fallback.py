"""A Kafka outage for one topic during a send (issue 32 item 5a), with the real activities,
worker and consumers: the e-mail topic is missing (the broker creates none by itself), so the
local plan-and-publish of an e-mail bill hangs on the topic's metadata until its bound, and its
workflow goes on with the same work as a regular activity, retried; an SMS bill's publish
works, and the worker delivers it meanwhile. When the topic is back the e-mail bill is
published once and delivered once: the regular activity's attempts that failed never reached
the topic, and a repeat that did would be handled once (the consumer skips a bill already
delivered in PostgreSQL; the provider refuses a second send under `bill_id:purpose`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from telebill import clock
from telebill.config import Settings
from telebill.contracts.notification import notify_input
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.db_roles import DbRole
from telebill.domain.month import parse_month
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.topics import Topics
from telebill.stack.kafka_topics import ensure_topics
from telebill.temporal_gateway import TemporalGateway
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, NotifyStack, prepare
from workers.delivery_consumer import ChannelConsumer
from workers.temporal_worker import build_worker, create_pool
from workflows.notification import LOCAL_BOUND

BY_EMAIL, BY_SMS = 1, 2


@asynccontextmanager
async def consuming(stack: NotifyStack, channels: list[str]) -> AsyncIterator[None]:
    pool = await create_pool(stack.settings, DbRole.CONSUMER)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(ChannelConsumer(c, stack.settings, pool).run(stop)) for c in channels
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await pool.close()


async def events_on(stack: NotifyStack, topic: str) -> int:
    """How many events the topic holds (the sum of its partitions' end offsets)."""
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(stack.settings))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    assert partitions, described
    probe = AIOKafkaConsumer(**kafka_client_kwargs(stack.settings), enable_auto_commit=False)
    await probe.start()
    try:
        return sum((await probe.end_offsets(partitions)).values())
    finally:
        await probe.stop()


async def status_of(stack: NotifyStack, member: int) -> str | None:
    status: str | None = await stack.conn.fetchval(
        "SELECT n.status FROM notification n JOIN bill b ON b.id = n.bill_id "
        "WHERE b.member_id = $1",
        member,
    )
    return status


async def test_a_missing_topic_is_waited_out_by_a_regular_activity_and_published_once(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 2)
    s = stack.settings
    await stack.conn.execute("UPDATE member SET bill_channel = 'sms' WHERE id = $1", BY_SMS)
    month = parse_month(MONTH)
    await settle_chunk(stack.conn, month, "s", 1, 2, await load_products(stack.conn, month))
    email = Topics(s.topic_prefix).channel("email")
    admin = AIOKafkaAdminClient(**kafka_client_kwargs(s))
    await admin.start()
    try:
        await admin.delete_topics([email])
    finally:
        await admin.close()
    bills = {
        r["member_id"]: r["id"] for r in await stack.conn.fetch("SELECT member_id, id FROM bill")
    }
    pool = await create_pool(s, DbRole.WORKER)
    loop = asyncio.get_running_loop()
    try:
        async with (
            build_worker(stack.client, pool, s, s.task_queue),
            consuming(stack, ["sms"]),
            asyncio.timeout(240),
        ):
            began = loop.time()
            for member in (BY_EMAIL, BY_SMS):
                params = notify_input(s, bills[member], member, MONTH)
                await TemporalGateway(stack.client, s).start_notification(
                    params, task_queue=s.task_queue, now=clock.now(s)
                )
            waiting = stack.client.get_workflow_handle(stack.workflow_id(BY_EMAIL))
            served = stack.client.get_workflow_handle(stack.workflow_id(BY_SMS))
            # the SMS bill goes out while the e-mail one waits out its topic's absence
            assert await served.result() == "DELIVERED_SMS"
            while True:  # the e-mail bill's local plan gave up: a regular activity now
                history = [e.event_type for e in (await waiting.fetch_history()).events]
                if EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED in history:
                    break
                await asyncio.sleep(0.2)
            gave_up = loop.time() - began
            assert gave_up >= LOCAL_BOUND.total_seconds() - 1, gave_up
            assert (await waiting.describe()).status == WorkflowExecutionStatus.RUNNING
            assert await status_of(stack, BY_EMAIL) == "PENDING"
            # the topic is back, and its consumer with it
            await ensure_topics(s.kafka_servers, 3, s.topic_prefix)
            async with consuming(stack, ["email"]):
                assert await waiting.result() == "DELIVERED_EMAIL"
            assert await events_on(stack, email) == 1  # published once
            accepted = await stack.conn.fetchval(
                "SELECT count(*) FROM delivery_attempt a JOIN notification n "
                "ON n.id = a.notification_id WHERE n.bill_id = $1 AND a.outcome = 'SENT'",
                bills[BY_EMAIL],
            )
            assert accepted == 1
    finally:
        await pool.close()
        await stack.conn.close()
