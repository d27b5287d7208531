"""The bill page's rate limit (telebill/web/limiter.py): a bucket of `burst` per address,
refilled at its rate, on a clock the test turns; a crowd of addresses costs bounded memory."""

from __future__ import annotations

from telebill.web.limiter import TokenBuckets, retry_after


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=6, burst=3, clock=clock)  # one every 10 s
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 10.0  # empty: the next token in 10 s
    assert buckets.take("b") == 0.0  # another address, its own bucket
    clock.now += 10
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    clock.now += 3_600  # a long pause fills the bucket, no more than full
    assert [buckets.take("a") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_refusals_do_not_dig_a_deeper_hole() -> None:
    clock = Clock()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=clock)
    buckets.take("a"), buckets.take("a")
    for _ in range(100):
        assert buckets.take("a") > 0
    clock.now += 1
    assert buckets.take("a") == 0.0  # a second later, as if the refusals had not been


def test_a_crowd_of_addresses_is_bounded() -> None:
    buckets = TokenBuckets(per_minute=1, burst=2, max_addresses=100, clock=Clock())
    for n in range(10_000):
        buckets.take(f"10.0.{n // 256}.{n % 256}")
    assert len(buckets) == 100


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert (retry_after(0.01), retry_after(1.0), retry_after(1.2)) == ("1", "1", "2")
