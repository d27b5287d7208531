"""A round trip through PostgreSQL and Kafka, run as an activity so it crosses Temporal too."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from temporalio import activity

from telebill.config import asyncpg_dsn, get_settings
from telebill.db.cluster_admin import echo
from telebill.messaging.kafka_auth import KafkaAccess, client_kwargs, kafka_client_kwargs
from telebill.messaging.topics import SMOKE


@dataclass(frozen=True)
class SmokeInput:
    token: str


@dataclass(frozen=True)
class SmokeResult:
    postgres_echo: str
    kafka_echo: str
    kafka_partition: int
    kafka_offset: int


async def postgres_echo(dsn: str, token: str) -> str:
    """Write a row and read it back (a temporary table: the smoke leaves nothing behind)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await echo(conn, token)
    finally:
        await conn.close()


async def kafka_echo(kafka: KafkaAccess, token: str, topic: str = SMOKE) -> tuple[str, int, int]:
    """Produce one message and consume exactly that message back by partition and offset."""
    producer = AIOKafkaProducer(**client_kwargs(kafka), acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, token.encode(), key=token.encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = await consumer.getone()
        return record.value.decode(), meta.partition, meta.offset
    finally:
        await consumer.stop()


@activity.defn
async def smoke_round_trip(inp: SmokeInput) -> SmokeResult:
    settings = get_settings()
    pg = await postgres_echo(asyncpg_dsn(settings.db_url), inp.token)
    echoed, partition, offset = await kafka_echo(kafka_client_kwargs(settings), inp.token)
    return SmokeResult(pg, echoed, partition, offset)
