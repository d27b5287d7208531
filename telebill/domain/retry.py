"""Where a failed delivery goes next: the channel's retry tiers, then the next channel of the
bill's chain (telebill/domain/chain.py; e-mail → SMS by default), then the DLQ.

Pure: the consumers of the message platform ask it; it does no I/O and keeps no state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from telebill.domain.chain import DEFAULT_CHAINS, ChannelChain

MIN_RETRIES, MAX_RETRIES = 3, 5
Channel = str
DEFAULT_CHAIN = ChannelChain.parse(DEFAULT_CHAINS)


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` retries after the first attempt, the n-th after base × factor^(n-1) (capped),
    each spread by ±jitter so a burst of failures does not come back all at once."""

    retries: int = 3
    base_delay_s: float = 30.0
    factor: float = 4.0
    max_delay_s: float = 3_600.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not MIN_RETRIES <= self.retries <= MAX_RETRIES:
            raise ValueError(f"retries must be {MIN_RETRIES}–{MAX_RETRIES}, got {self.retries}")
        if self.base_delay_s < 0 or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("delays need base ≥ 0, factor ≥ 1 and 0 ≤ jitter < 1")

    def nominal_delay(self, retry: int) -> timedelta:
        return timedelta(
            seconds=min(self.base_delay_s * self.factor ** (retry - 1), self.max_delay_s)
        )

    def delay(self, retry: int, rng: random.Random) -> timedelta:
        spread = 1 + self.jitter * (2 * rng.random() - 1)
        return self.nominal_delay(retry) * spread

    @property
    def longest_delay(self) -> timedelta:
        """No retry of this policy waits longer (its last tier, jitter included)."""
        return self.nominal_delay(self.retries) * (1 + self.jitter)


@dataclass(frozen=True)
class Retry:
    channel: Channel
    tier: int  # 1..retries: the retry topic of that channel
    delay: timedelta


@dataclass(frozen=True)
class FallBack:
    channel: Channel  # the next channel, from its first attempt


@dataclass(frozen=True)
class DeadLetter:
    reason: str


Step = Retry | FallBack | DeadLetter

# Processes' clocks differ a little: an event may look this much further away than its delay.
CLOCK_SKEW = timedelta(minutes=1)


def longest_hold(policies: Mapping[Channel, RetryPolicy]) -> timedelta:
    """The longest a retry tier's event can rightly wait: what a consumer accepts (anything
    further away is refused) and the longest it ever pauses a partition."""
    return max(p.longest_delay for p in policies.values()) + CLOCK_SKEW


def after_failure(
    channel: Channel,
    attempt: int,
    policies: Mapping[Channel, RetryPolicy],
    rng: random.Random,
    chain: ChannelChain = DEFAULT_CHAIN,
    permanent: bool = False,
) -> Step:
    """What to do after attempt number `attempt` (1 = first try) on `channel` failed. A
    permanent failure (the member cannot be reached there at all) skips the channel's retries."""
    policy = policies[channel]
    if attempt <= policy.retries and not permanent:
        return Retry(channel, attempt, policy.delay(attempt, rng))
    nxt = chain.after(channel)
    if nxt is not None:
        return FallBack(nxt)
    if permanent:
        return DeadLetter(f"{channel} refused it for good and there is no channel left")
    return DeadLetter(f"{channel} failed {attempt} times and there is no channel left")
