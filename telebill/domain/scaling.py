"""When to add or remove a consumer process: a pure rule over the group's recent lag readings
(`telebill consume <kind> --scale auto` acts on it; KEDA's Kafka scaler reads the same figure).

- Never fewer than the minimum, never more than the maximum (which the caller has already cut to
  the topic's partitions: a process beyond them would have nothing to read).
- One more process when the backlog would take longer than `drain_s` to clear at the rate it
  shrank over the last `rate_window_s` (or it is not shrinking at all).
- One fewer when there has been no lag for `idle_s`.
- No change within `cool_down_s` of the last one: a new or stopped process makes the group
  rebalance, and the readings of that time say little.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ScalePolicy:
    minimum: int
    maximum: int
    drain_s: float
    idle_s: float
    cool_down_s: float
    rate_window_s: float  # the lag's rate of change is read over this much of the latest readings


@dataclass(frozen=True)
class LagReading:
    at: float  # seconds, monotonic
    lag: int


@dataclass(frozen=True)
class Decision:
    processes: int  # how many should run
    reason: str


def shrink_rate(readings: Sequence[LagReading]) -> float:
    """Events per second the lag went down over the readings (negative: it grew)."""
    first, last = readings[0], readings[-1]
    if last.at <= first.at:
        return 0.0
    return (first.lag - last.lag) / (last.at - first.at)


def decide(
    policy: ScalePolicy,
    readings: Sequence[LagReading],
    running: int,
    last_change_at: float | None,
) -> Decision:
    """How many processes should run, after `readings` (oldest first, at least one)."""
    now, lag = readings[-1].at, readings[-1].lag
    if running < policy.minimum:
        return Decision(policy.minimum, f"{running} running, the minimum is {policy.minimum}")
    if running > policy.maximum:
        return Decision(policy.maximum, f"{running} running, the maximum is {policy.maximum}")
    cooling = last_change_at is not None and now - last_change_at < policy.cool_down_s
    rate = shrink_rate([r for r in readings if r.at >= now - policy.rate_window_s])
    if lag > 0:
        clears_in = lag / rate if rate > 0 else float("inf")
        if clears_in <= policy.drain_s:
            return Decision(running, f"lag {lag:,} clears in {clears_in:.0f} s at {rate:,.0f}/s")
        why = (
            f"lag {lag:,} would take {clears_in:.0f} s at {rate:,.0f}/s"
            if rate > 0
            else f"lag {lag:,} is not shrinking ({-rate:+,.0f}/s)"
        )
        if running >= policy.maximum:
            return Decision(running, f"{why}; already at the maximum of {policy.maximum}")
        if cooling:
            return Decision(running, f"{why}; cooling down after the last change")
        return Decision(running + 1, f"{why} (over {policy.drain_s:.0f} s)")
    idle_for = now - _idle_since(readings)
    if running > policy.minimum and idle_for >= policy.idle_s and not cooling:
        return Decision(running - 1, f"no lag for {idle_for:.0f} s")
    return Decision(running, f"no lag for {idle_for:.0f} s")


def _idle_since(readings: Sequence[LagReading]) -> float:
    """When the run of zero-lag readings that ends with the last one began."""
    since = readings[-1].at
    for reading in reversed(readings):
        if reading.lag:
            break
        since = reading.at
    return since
