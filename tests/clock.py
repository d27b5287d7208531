"""The instant the tests take as "now", and the hard dates the suite is run at.

By default the tests run at the real time. `TELEBILL_TEST_NOW` (an ISO 8601 instant with its
offset) moves them: the test process travels there with time-machine (its `datetime.now`,
`date.today` and `time.time` read the new instant and tick on from it), and each time-skipping
Temporal server skips forward to it before a test uses it. Tests compute what they expect from
that clock (`env.get_current_time()`, a month derived from it), never from a written-down date.

The time-skipping server starts at the real time and can only move forward, so each hard date is
the *next* instant of its kind after the real now: the same kind of instant, whatever day the
suite runs on (`python -m tests.dated --list` prints them).
"""

from __future__ import annotations

import calendar
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

TEST_NOW_ENV = "TELEBILL_TEST_NOW"
SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")


def suite_now() -> datetime | None:
    """The instant the suite was told to run at, or None for the real time."""
    text = os.environ.get(TEST_NOW_ENV, "").strip()
    if not text:
        return None
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"{TEST_NOW_ENV} needs an offset (…+09:00 or …Z), got {text!r}")
    return instant


async def skip_to_test_now(env: WorkflowEnvironment) -> None:
    """Move a time-skipping server's clock to the suite's instant (it starts at the real one)."""
    target = suite_now()
    if target is None:
        return
    ahead = target - await env.get_current_time()
    if ahead < timedelta(0):
        raise RuntimeError(
            f"{TEST_NOW_ENV}={target.isoformat()} is in the past: the server's clock only "
            "moves forward"
        )
    await env.sleep(ahead)


def _month_end_seoul(now: datetime) -> datetime:
    """The last minute of a month in Asia/Seoul (still the previous month in UTC and Europe)."""
    local = now.astimezone(SEOUL)
    year, month = local.year, local.month
    while True:
        last = calendar.monthrange(year, month)[1]
        instant = datetime.combine(date(year, month, last), time(23, 59), SEOUL)
        if instant > now:
            return instant
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _leap_day(now: datetime) -> datetime:
    """29 February of the next leap year, late in the evening in Seoul."""
    year = now.astimezone(SEOUL).year
    while True:
        if calendar.isleap(year):
            instant = datetime(year, 2, 29, 23, 30, tzinfo=SEOUL)
            if instant > now:
                return instant
        year += 1


def _new_year(now: datetime) -> datetime:
    """Half past midnight on 1 January in Seoul: still 31 December in UTC and in Europe."""
    year = now.astimezone(SEOUL).year
    while datetime(year, 1, 1, 0, 30, tzinfo=SEOUL) <= now:
        year += 1
    return datetime(year, 1, 1, 0, 30, tzinfo=SEOUL)


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _eu_dst_night(now: datetime) -> datetime:
    """Half an hour before Europe changes its clocks (01:00 UTC on the last Sunday of March and
    of October)."""
    year = now.year
    while True:
        for month in (3, 10):
            change = datetime.combine(_last_sunday(year, month), time(1, 0), UTC)
            if change - timedelta(minutes=30) > now:
                return change - timedelta(minutes=30)
        year += 1


def _years_ahead(now: datetime) -> datetime:
    """Five years on (2031 for a suite run in 2026), mid-morning in Seoul."""
    local = now.astimezone(SEOUL)
    return datetime(local.year + 5, local.month, min(local.day, 28), 10, 0, tzinfo=SEOUL)


HARD_DATES: dict[str, Callable[[datetime], datetime]] = {
    "month-end-seoul": _month_end_seoul,
    "leap-day": _leap_day,
    "new-year": _new_year,
    "eu-dst-night": _eu_dst_night,
    "years-ahead": _years_ahead,
}


def hard_dates(now: datetime | None = None) -> dict[str, datetime]:
    """Each hard date's next instant after `now` (the real time by default)."""
    at = now or datetime.now(UTC)
    return {name: kind(at) for name, kind in HARD_DATES.items()}
