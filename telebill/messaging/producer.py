"""The one way notification events are published."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer


def durable_producer(bootstrap_servers: str, linger_ms: int = 0) -> AIOKafkaProducer:
    """Acknowledged by every in-sync replica and idempotent: a send the client retries is
    neither lost nor written twice. (The delivery key guards against the rest.)"""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=linger_ms,
    )
