"""Each real service answers a real request: a row, a message, a workflow with an activity."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from telebill.config import Settings, asyncpg_dsn
from telebill.messaging.topics import all_topics
from telebill.stack.kafka_topics import delete_topics, ensure_topics, topic_names
from telebill.stack.process import StackError
from workers.smoke import run_smoke


async def test_postgres_writes_and_reads_a_row(settings: Settings) -> None:
    schema = f"it_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(asyncpg_dsn(settings.db_url))
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE TABLE {schema}.t (id int PRIMARY KEY, amount bigint, note text)"
        )
        await conn.execute(f"INSERT INTO {schema}.t VALUES (1, 54890, '요금 청구서')")
        row = await conn.fetchrow(f"SELECT amount, note FROM {schema}.t WHERE id = 1")
        assert row is not None
        assert (row["amount"], row["note"]) == (54890, "요금 청구서")
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def test_kafka_produces_and_consumes_through_a_consumer_group(settings: Settings) -> None:
    topic = f"it.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, acks="all")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=f"it-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        await producer.start()
        sent = [(f"member-{i % 4}", f"event-{i}") for i in range(20)]
        for key, value in sent:
            await producer.send(topic, value.encode(), key=key.encode())
        await producer.flush()

        await consumer.start()
        got: dict[str, list[str]] = defaultdict(list)
        partitions_of_key: dict[str, set[int]] = defaultdict(set)
        while sum(map(len, got.values())) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no message arrived within 10 s"
            for tp, records in batch.items():
                for r in records:
                    got[r.key.decode()].append(r.value.decode())
                    partitions_of_key[r.key.decode()].add(tp.partition)
        await consumer.commit()
        # Same key, same partition, order kept: what per-member ordering relies on.
        for key in got:
            assert got[key] == [v for k, v in sent if k == key]
            assert len(partitions_of_key[key]) == 1
    finally:
        await producer.stop()
        await consumer.stop()
        await admin.delete_topics([topic])
        await admin.close()


async def test_workflow_with_activity_round_trips_all_three(settings: Settings) -> None:
    report = await run_smoke(settings)
    assert report.result.postgres_echo == report.token
    assert report.result.kafka_echo == report.token
    assert report.result.kafka_offset >= 0


async def test_topics_are_created_replicated_as_the_cluster_allows(settings: Settings) -> None:
    prefix = f"rf{uuid.uuid4().hex[:8]}."
    with pytest.raises(StackError, match="needs 3 Kafka brokers; the cluster has 1"):
        await ensure_topics(settings.kafka_servers, 2, prefix, factor=3)
    created = await ensure_topics(settings.kafka_servers, 2, prefix)
    assert len(created) == len(all_topics(prefix))
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([f"{prefix}billing.email"])
        assert {len(p["replicas"]) for p in topic["partitions"]} == {1}  # the local single broker
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{prefix}billing.email")]
        )
        configs = {c[0]: c[1] for c in response.resources[0][4]}
        assert configs["min.insync.replicas"] == "1"
    finally:
        await admin.close()
    # and deleted again, as the tests and benchmarks do with the topics of their installations
    assert await delete_topics(settings.kafka_servers, created) == len(created)
    for _ in range(50):  # the broker deletes them in the background
        if not set(created) & await topic_names(settings.kafka_servers):
            break
        await asyncio.sleep(0.2)
    assert not set(created) & await topic_names(settings.kafka_servers)
