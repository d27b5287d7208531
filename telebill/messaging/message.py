"""A message to publish (topic, key, value) and a partition's name: plain values that the pure
batch decision returns and the Kafka code publishes, so that neither needs the other."""

from __future__ import annotations

from dataclasses import dataclass

Partition = tuple[str, int]  # (topic, partition): equal to aiokafka's TopicPartition


@dataclass(frozen=True)
class Message:
    topic: str
    key: bytes | None
    value: bytes
