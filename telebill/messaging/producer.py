"""The one way notification events are published."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer

from telebill.messaging.kafka_auth import KafkaAccess, client_kwargs


def durable_producer(kafka: KafkaAccess, linger_ms: int = 0) -> AIOKafkaProducer:
    """Acknowledged by every in-sync replica and idempotent: a send the client retries is
    neither lost nor written twice. (The delivery key guards against the rest.)"""
    return AIOKafkaProducer(
        **client_kwargs(kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
    )
