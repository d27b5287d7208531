"""Kafka topic names. Retry tiers are separate topics so a waiting event never blocks fresh ones.

Every name can carry a prefix (TELEBILL_TOPIC_PREFIX), so several installations, or tests, can
share one Kafka cluster without reading each other's events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CHANNEL_TOPIC = "billing.{channel}"  # billing.email, billing.sms, billing.alimtalk, …
DLQ = "billing.dlq"
DEFAULT_CHANNELS = ("email", "sms")
SMOKE = "telebill.smoke"  # used by `telebill stack check` and the integration tests

MAX_RETRY_TIERS = 5  # retries are configurable from 3 to 5; every possible tier topic exists


def retry_topic(channel_topic: str, tier: int) -> str:
    if not 1 <= tier <= MAX_RETRY_TIERS:
        raise ValueError(f"retry tier must be 1..{MAX_RETRY_TIERS}, got {tier}")
    return f"{channel_topic}.retry.{tier}"


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    def channel(self, name: str) -> str:
        return f"{self.prefix}{CHANNEL_TOPIC.format(channel=name)}"

    def retry(self, name: str, tier: int) -> str:
        return retry_topic(self.channel(name), tier)

    @property
    def dlq(self) -> str:
        return f"{self.prefix}{DLQ}"

    def all(self, channels: Iterable[str] = DEFAULT_CHANNELS) -> list[str]:
        """Every topic of the platform for these channels: each one's own and its retry tiers,
        the dead letters, the smoke test's."""
        chosen = list(dict.fromkeys(channels))
        names = [*map(self.channel, chosen), self.dlq, f"{self.prefix}{SMOKE}"]
        for channel in chosen:
            names += [self.retry(channel, tier) for tier in range(1, MAX_RETRY_TIERS + 1)]
        return names


def all_topics(prefix: str = "", channels: Iterable[str] = DEFAULT_CHANNELS) -> list[str]:
    return Topics(prefix).all(channels)
