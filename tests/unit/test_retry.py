"""The delivery chain: email retries with growing delays, then SMS and its retries, then DLQ."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebill.domain.chain import ChannelChain
from telebill.domain.retry import (
    Channel,
    DeadLetter,
    FallBack,
    Retry,
    RetryPolicy,
    after_failure,
)


def walk(policies: dict[Channel, RetryPolicy]) -> list[object]:
    """Fail every attempt from the first e-mail on; list each step taken."""
    rng = random.Random(1)
    steps: list[object] = []
    channel: Channel = "email"
    attempt = 1
    while True:
        step = after_failure(channel, attempt, policies, rng)
        steps.append(step)
        if isinstance(step, Retry):
            attempt += 1
        elif isinstance(step, FallBack):
            channel, attempt = step.channel, 1
        else:
            return steps


def test_default_chain_is_three_email_retries_sms_three_retries_then_dlq() -> None:
    steps = walk({"email": RetryPolicy(), "sms": RetryPolicy()})
    kinds = [
        (type(s).__name__, getattr(s, "channel", None), getattr(s, "tier", None)) for s in steps
    ]
    assert kinds == [
        ("Retry", "email", 1),
        ("Retry", "email", 2),
        ("Retry", "email", 3),
        ("FallBack", "sms", None),
        ("Retry", "sms", 1),
        ("Retry", "sms", 2),
        ("Retry", "sms", 3),
        ("DeadLetter", None, None),
    ]
    assert isinstance(steps[-1], DeadLetter) and "sms failed 4 times" in steps[-1].reason


@pytest.mark.parametrize("retries", [3, 4, 5])
def test_configurable_number_of_retries(retries: int) -> None:
    steps = walk({"email": RetryPolicy(retries=retries), "sms": RetryPolicy(retries=3)})
    assert sum(1 for s in steps if isinstance(s, Retry) and s.channel == "email") == retries


@pytest.mark.parametrize("retries", [0, 2, 6])
def test_retries_outside_three_to_five_are_refused(retries: int) -> None:
    with pytest.raises(ValueError, match="retries must be 3–5"):
        RetryPolicy(retries=retries)


def test_nominal_delays_grow_exponentially_and_are_capped() -> None:
    p = RetryPolicy(retries=5, base_delay_s=30, factor=4, max_delay_s=3_600)
    assert [p.nominal_delay(n) for n in range(1, 6)] == [
        timedelta(seconds=s) for s in (30, 120, 480, 1_920, 3_600)
    ]


@given(
    st.integers(1, 5),
    st.floats(0, 600),
    st.floats(1, 10),
    st.floats(0, 0.99),
    st.integers(0, 2**32),
)
def test_jittered_delay_stays_within_its_spread(
    retry: int, base: float, factor: float, jitter: float, seed: int
) -> None:
    p = RetryPolicy(retries=5, base_delay_s=base, factor=factor, max_delay_s=7_200, jitter=jitter)
    nominal = p.nominal_delay(retry).total_seconds()
    got = p.delay(retry, random.Random(seed)).total_seconds()
    assert nominal * (1 - jitter) - 1e-6 <= got <= nominal * (1 + jitter) + 1e-6


def test_a_permanent_failure_skips_the_retries_and_follows_the_chain() -> None:
    chain = ChannelChain.parse("alimtalk>email>sms")
    policies = {c: RetryPolicy() for c in chain.channels}
    rng = random.Random(1)
    first = after_failure("alimtalk", 1, policies, rng, chain)
    assert isinstance(first, Retry) and (first.channel, first.tier) == ("alimtalk", 1)
    assert after_failure("alimtalk", 1, policies, rng, chain, permanent=True) == FallBack("email")
    assert after_failure("email", 4, policies, rng, chain) == FallBack("sms")
    last = after_failure("sms", 1, policies, rng, chain, permanent=True)
    assert isinstance(last, DeadLetter) and "for good" in last.reason
