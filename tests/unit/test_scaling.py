"""The autoscaler's rule (telebill/domain/scaling.py): examples and properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telebill.config import Settings
from telebill.domain.scaling import Decision, LagReading, ScalePolicy, decide
from telebill.messaging.lag import expected_topics
from telebill.messaging.topics import MAX_RETRY_TIERS, Topics
from workers.consumer_scaler import ConsumerScaler, main_topic

POLICY = ScalePolicy(minimum=1, maximum=4, drain_s=60, idle_s=30, cool_down_s=20, rate_window_s=15)


def readings(*lags: int, every: float = 5.0) -> list[LagReading]:
    return [LagReading(100.0 + i * every, lag) for i, lag in enumerate(lags)]


def test_a_growing_backlog_adds_a_process() -> None:
    d = decide(POLICY, readings(1_000, 5_000, 9_000, 13_000), running=1, last_change_at=None)
    assert d == Decision(2, "lag 13,000 is not shrinking (+800/s) (over 60 s)")


def test_a_backlog_that_clears_in_time_keeps_the_count() -> None:
    d = decide(POLICY, readings(40_000, 30_000, 20_000, 10_000), running=2, last_change_at=None)
    assert d.processes == 2 and d.reason == "lag 10,000 clears in 5 s at 2,000/s"


def test_a_slow_drain_adds_one_but_not_past_the_maximum_nor_while_cooling() -> None:
    slow = readings(100_000, 99_000, 98_000, 97_000)  # 200/s: 485 s to clear
    assert decide(POLICY, slow, running=2, last_change_at=None).processes == 3
    assert decide(POLICY, slow, running=4, last_change_at=None).reason.endswith(
        "already at the maximum of 4"
    )
    cooling = decide(POLICY, slow, running=2, last_change_at=110.0)
    assert cooling.processes == 2 and cooling.reason.endswith("cooling down after the last change")


def test_an_idle_group_loses_a_process_after_idle_s_only() -> None:
    assert decide(POLICY, readings(0, 0, 0, 0), running=3, last_change_at=None).processes == 3
    idle = decide(POLICY, readings(5, 0, 0, 0, 0, 0, 0, 0), running=3, last_change_at=None)
    assert idle == Decision(2, "no lag for 30 s")
    assert (
        decide(POLICY, readings(0, 0, 0, 0, 0, 0, 0), running=1, last_change_at=None).processes == 1
    )


def test_the_minimum_is_restored_at_once() -> None:
    assert decide(POLICY, readings(0), running=0, last_change_at=100.0).processes == 1


@given(
    st.lists(st.integers(0, 10**7), min_size=1, max_size=20),
    st.integers(0, 10),
    st.integers(1, 4),
    st.integers(0, 8),
    st.one_of(st.none(), st.floats(0, 300)),
)
def test_the_count_moves_by_one_within_bounds_and_never_while_cooling(
    lags: list[int], running: int, minimum: int, spread: int, last: float | None
) -> None:
    policy = ScalePolicy(minimum, minimum + spread, 60, 30, 20, 15)
    rs = readings(*lags)
    d = decide(policy, rs, running, last)
    if minimum <= running <= policy.maximum:
        assert abs(d.processes - running) <= 1
        assert policy.minimum <= d.processes <= policy.maximum
        if last is not None and rs[-1].at - last < policy.cool_down_s:
            assert d.processes == running
        if d.processes < running:
            assert rs[-1].lag == 0
        if d.processes > running:
            assert rs[-1].lag > 0
    else:
        assert d.processes == min(max(running, policy.minimum), policy.maximum)
    assert d.reason


def test_the_supervisor_never_runs_more_processes_than_partitions() -> None:
    scaler = ConsumerScaler(Settings(), "email", minimum=2, maximum=20)
    assert (scaler.policy(12).minimum, scaler.policy(12).maximum) == (2, 12)
    assert (scaler.policy(1).minimum, scaler.policy(1).maximum) == (1, 1)


@given(st.sampled_from(["email", "sms", "alimtalk", "push", "dlq"]), st.sampled_from(["", "t1."]))
def test_every_kind_scales_on_its_own_topic(kind: str, prefix: str) -> None:
    """A channel the installation adds (AlimTalk, push) has its topic and tiers like e-mail's:
    `--scale auto` on it once failed with an IndexError, its topics unknown."""
    topics = Topics(prefix)
    main = main_topic(kind, topics)
    assert main == (topics.dlq if kind == "dlq" else f"{prefix}billing.{kind}")
    assert main in expected_topics(topics, kind)
    if kind != "dlq":
        assert topics.retry(kind, MAX_RETRY_TIERS) in expected_topics(topics, kind)
