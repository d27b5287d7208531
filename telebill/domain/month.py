"""Billing months: the first day of a calendar month, written YYYY-MM."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"(\d{4})-(\d{2})")
FIRST_YEAR, LAST_YEAR = 1970, 2199  # the months a bill can belong to


def parse_month(text: str) -> date:
    """'2026-11' → date(2026, 11, 1); anything else raises ValueError saying what is expected."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must be YYYY-MM (e.g. 2026-11), got {text[:40]!r}")
    if not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
        # a month's due date and its next month must exist (9999-12 has none)
        raise ValueError(f"month must be between {FIRST_YEAR}-01 and {LAST_YEAR}-12, got {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def format_month(month: date) -> str:
    return f"{month:%Y-%m}"


def shift_month(month: date, months: int) -> date:
    """The first day of the month `months` after `month`'s (before it, when negative)."""
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_month(month: date) -> date:
    return shift_month(month, 1)


def month_of(instant: datetime, time_zone: str) -> date:
    """The first day of the month `instant` falls in, in `time_zone`."""
    local = instant.astimezone(ZoneInfo(time_zone))
    return date(local.year, local.month, 1)


MAX_SHARDS = 1_000  # bounds a fan-out's history whatever the member count


def previous_month(now: datetime, time_zone: str) -> str:
    """The billing month before `now` as seen in `time_zone` (YYYY-MM)."""
    return months_before(now, time_zone, 1)[0]


def months_before(now: datetime, time_zone: str, count: int) -> list[str]:
    """The `count` billing months before `now` as seen in `time_zone`, the latest first."""
    local = now.astimezone(ZoneInfo(time_zone))
    index = local.year * 12 + local.month - 1  # months since year 0, January = 0
    return [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(1, count + 1)]


def shard_ranges(first: int, last: int, shard_size: int) -> list[tuple[int, int]]:
    if last < first:
        return []
    size = max(shard_size, -(-(last - first + 1) // MAX_SHARDS))
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]
