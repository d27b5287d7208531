"""The time the system plans and checks send windows by.

`TELEBILL_CLOCK_OFFSET_S` shifts it (a staging system rehearsing a month, or the demo sending
next month's bills today); every process of one installation must use the same offset. Durations
(sleeps, retry delays) are unaffected: only "what time is it" moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from telebill.config import Settings


def now(settings: Settings) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=settings.clock_offset_s)


def offset_to(instant: datetime) -> float:
    """The TELEBILL_CLOCK_OFFSET_S that makes `now` read `instant` at this moment."""
    return (instant - datetime.now(UTC)).total_seconds()
