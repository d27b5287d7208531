"""Kafka topic names. Retry tiers are separate topics so a waiting event never blocks fresh ones."""

from __future__ import annotations

EMAIL = "billing.email"
SMS = "billing.sms"
DLQ = "billing.dlq"
SMOKE = "telebill.smoke"  # used by `telebill stack check` and the integration tests

MAX_RETRY_TIERS = 5  # retries are configurable from 3 to 5; every possible tier topic exists


def retry_topic(channel_topic: str, tier: int) -> str:
    if not 1 <= tier <= MAX_RETRY_TIERS:
        raise ValueError(f"retry tier must be 1..{MAX_RETRY_TIERS}, got {tier}")
    return f"{channel_topic}.retry.{tier}"


def all_topics() -> list[str]:
    topics = [EMAIL, SMS, DLQ, SMOKE]
    for channel in (EMAIL, SMS):
        topics += [retry_topic(channel, tier) for tier in range(1, MAX_RETRY_TIERS + 1)]
    return topics
