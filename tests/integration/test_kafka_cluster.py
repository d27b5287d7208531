"""`TELEBILL_KAFKA_BROKERS=3`: the local stack's Kafka as three KRaft nodes on loopback. Topics
get 3 replicas and min.insync.replicas 2; one node SIGKILLed loses no acknowledged event and
stops no write; `stack up` starts the missing node again and leaves the others running; a
single node is not started beside the cluster."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from telebill.config import Settings
from telebill.messaging.topics import all_topics
from telebill.stack.kafka import Kafka
from telebill.stack.process import StackError
from tests.helpers import free_low_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def cluster(settings: Settings, tmp_path: Path) -> AsyncIterator[Kafka]:
    (tmp_path / "cache").symlink_to(settings.stack_dir / "cache")  # the resolved jars
    port = free_low_ports(6)  # three brokers on p, p+2, p+4, controllers one above
    kafka = Kafka(
        Settings(
            stack_dir=tmp_path,
            kafka_brokers=3,
            kafka_port=port,
            kafka_controller_port=port + 1,
            kafka_bootstrap_servers=None,
            topic_prefix=f"c{uuid.uuid4().hex[:6]}.",
        )
    )
    try:
        said = await kafka.up()
        assert said.startswith("started"), said
        yield kafka
    finally:
        kafka.down()


async def replicas(kafka: Kafka, topic: str) -> tuple[list[int], list[int], str]:
    """(replicas per partition, leaders, the topic's min.insync.replicas)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.address)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        [configs] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    entries = {e[0]: e[1] for e in configs.resources[0][4]}
    partitions = described["partitions"]
    return (
        [len(p["replicas"]) for p in partitions],
        [p["leader"] for p in partitions],
        entries["min.insync.replicas"],
    )


async def produce(kafka: Kafka, topic: str, values: range) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.address, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, str(v).encode(), partition=0)
    finally:
        await producer.stop()


async def consume_all(kafka: Kafka, topic: str, expected: int) -> list[int]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.address, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[int] = []
    try:
        while len(got) < expected:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            got += [int(r.value) for rs in batch.values() for r in rs if r.value is not None]
    finally:
        await consumer.stop()
    return got


async def test_three_brokers_lose_nothing_when_one_is_killed(cluster: Kafka) -> None:
    topic = all_topics(cluster.settings.topic_prefix)[0]
    counts, leaders, isr = await replicas(cluster, topic)
    assert set(counts) == {3} and isr == "2", (counts, isr)
    assert cluster.address.count(",") == 2  # clients bootstrap from any of the three
    single = Kafka(cluster.settings.model_copy(update={"kafka_brokers": 1}))
    with pytest.raises(StackError, match="runs as a cluster"):  # not a second Kafka beside it
        await single.up()

    await produce(cluster, topic, range(100))
    victim = next(n for n in cluster.nodes if n.id == leaders[0])  # the leader of partition 0
    others = {n.id: n.pid() for n in cluster.nodes if n.id != victim.id}
    pid = victim.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    await produce(cluster, topic, range(100, 200))  # two in-sync replicas still take writes
    assert sorted(await consume_all(cluster, topic, 200)) == list(range(200))

    said = await cluster.up()
    assert said.startswith("started"), said
    assert victim.pid() not in (None, pid)
    assert {n.id: n.pid() for n in cluster.nodes if n.id != victim.id} == others
    assert cluster.down().startswith("stopped")
    assert all(n.pid() is None for n in cluster.nodes)
