"""What a channel consumer is made of besides its loop: the retry policy of each channel, the
provider it sends with (simulated, or a relay over SMTP for e-mail), and its polled Kafka records
in the platform's own terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition

from telebill import clock
from telebill.channels import channels
from telebill.channels.base import Sender
from telebill.channels.kakao_simulated import KakaoRules
from telebill.channels.simulated import IdempotencyLedger, SimulatedSender
from telebill.channels.smtp_keys import RelayKeys
from telebill.channels.smtp_sender import SmtpSender, abandoned_after_s
from telebill.config import Settings
from telebill.delivery.batch import Record
from telebill.domain.retry import RetryPolicy
from telebill.messaging.message import Partition


def policies(settings: Settings) -> dict[str, RetryPolicy]:
    """Every channel's retry policy: its retries (3 unless set) and backoff (the installation's
    unless set for the channel)."""
    s = settings
    retries = {"email": s.email_retries, "sms": s.sms_retries} | s.channel_retries
    return {
        name: RetryPolicy(
            retries.get(name, 3),
            s.channel_retry_base_delay_s.get(name, s.retry_base_delay_s),
            s.channel_retry_factor.get(name, s.retry_factor),
        )
        for name in channels()
    }


def sender_for(channel: str, settings: Settings, pool: asyncpg.Pool) -> Sender:
    """The channel's provider: the relay for e-mail when TELEBILL_EMAIL_PROVIDER=smtp, else
    the simulated one with its latency and failure rate, and its own rules."""
    if channel == "email" and settings.email_provider == "smtp":
        # no more connections than messages the consumer ever has in flight at once
        connections = min(settings.smtp_connections, settings.consumer_max_in_flight)
        keys = RelayKeys(pool, abandoned_after_s(settings))
        return SmtpSender(settings, connections, lambda: clock.now(settings), keys)
    failing = frozenset(a.strip() for a in settings.fail_addresses.split(",") if a.strip())
    ledger = IdempotencyLedger(pool, channel)
    latency = {"email": settings.email_latency_s, "sms": settings.sms_latency_s}
    rate = {"email": settings.email_failure_rate, "sms": settings.sms_failure_rate}
    latency |= settings.channel_latency_s
    rate |= settings.channel_failure_rate
    rules = KakaoRules(pool, settings.alimtalk_non_user_rate) if channel == "alimtalk" else None
    return SimulatedSender(
        latency.get(channel, settings.email_latency_s),
        rate.get(channel, settings.email_failure_rate),
        failing,
        ledger=ledger,
        refusal=rules.refusal if rules else None,
    )


def records(
    batch: Mapping[TopicPartition, Sequence[ConsumerRecord]],
) -> dict[Partition, list[Record]]:
    return {
        (tp.topic, tp.partition): [
            Record(r.topic, r.partition, r.offset, r.key, r.value) for r in rs
        ]
        for tp, rs in batch.items()
    }
