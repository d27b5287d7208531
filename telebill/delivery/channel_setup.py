"""What a channel consumer is made of besides its loop: the retry policy of each channel, the
(simulated) provider it sends with, and its polled Kafka records in the platform's own terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition

from telebill.channels.simulated import IdempotencyLedger, SimulatedSender
from telebill.config import Settings
from telebill.delivery.batch import Record
from telebill.domain.retry import RetryPolicy
from telebill.messaging.message import Partition


def policies(settings: Settings) -> dict[str, RetryPolicy]:
    base, factor = settings.retry_base_delay_s, settings.retry_factor
    return {
        "email": RetryPolicy(settings.email_retries, base, factor),
        "sms": RetryPolicy(settings.sms_retries, base, factor),
    }


def sender_for(channel: str, settings: Settings, pool: asyncpg.Pool) -> SimulatedSender:
    failing = frozenset(a.strip() for a in settings.fail_addresses.split(",") if a.strip())
    ledger = IdempotencyLedger(pool, channel)
    if channel == "email":
        latency, failure_rate = settings.email_latency_s, settings.email_failure_rate
    else:
        latency, failure_rate = settings.sms_latency_s, settings.sms_failure_rate
    return SimulatedSender(latency, failure_rate, failing, ledger=ledger)


def records(
    batch: Mapping[TopicPartition, Sequence[ConsumerRecord]],
) -> dict[Partition, list[Record]]:
    return {
        (tp.topic, tp.partition): [
            Record(r.topic, r.partition, r.offset, r.key, r.value) for r in rs
        ]
        for tp, rs in batch.items()
    }
