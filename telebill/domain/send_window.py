"""When a bill may be sent (design section 5), as pure functions.

Bills of month M go out in month M+1 on the member's preferred day (a day past the month's end
means its last day). The send instant (`plan_send`) is the earliest instant at or after
max(now, preferred day 00:00 member-local) — or max(now, reservation) when an operator reserved
one — that lies outside every system blackout window (system time zone) and outside the
member's quiet hours (member time zone). Windows are half-open [start, end) and wrap midnight
when start > end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from telebill.domain.proration import month_end

MAX_HOPS = 1_000  # windows chained end to start; far more than any real configuration has
WEEKDAY_NAMES = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)


_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_hhmm(text: str) -> time:
    """'21:00' → time(21, 0); anything but HH:MM from 00:00 to 23:59 raises ValueError."""
    match = _HHMM.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"time must be HH:MM (00:00–23:59), got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


class NoAllowedInstant(ValueError):
    """The windows leave no time to send (refused when preferences are saved)."""


@dataclass(frozen=True)
class Window:
    """[start, end) in local time of `zone`; wraps midnight when start > end. `weekdays` are ISO
    days (1 = Monday) on which the window *starts*; None means every day."""

    start: time
    end: time
    zone: str
    weekdays: frozenset[int] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(
                "a window needs start ≠ end (an empty or all-day window is not allowed)"
            )
        ZoneInfo(self.zone)  # an unknown zone raises here

    @property
    def wraps(self) -> bool:
        return self.start > self.end

    def label(self) -> str:
        return (
            f"{self.name + ' ' if self.name else ''}{self.start:%H:%M}–{self.end:%H:%M} {self.zone}"
        )

    def instance_around(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of this window that contains `instant`, as (start, end), if any."""
        tz = ZoneInfo(self.zone)
        local_day = instant.astimezone(tz).date()
        for day in (local_day, local_day - timedelta(days=1)):
            if self.weekdays is not None and day.isoweekday() not in self.weekdays:
                continue
            begins = datetime.combine(day, self.start, tzinfo=tz)
            ends = datetime.combine(
                day + timedelta(days=1) if self.wraps else day, self.end, tzinfo=tz
            )
            if begins <= instant < ends:
                return begins, ends
        return None


QUIET_HOURS = "quiet hours"  # the name of a member's window, and so part of its deferral reason


class DeferralKind(StrEnum):
    """Which kind of window held a message back, read from the reason it was deferred with."""

    QUIET_HOURS = QUIET_HOURS
    BLACKOUT = "blackout"

    @classmethod
    def of(cls, reason: str) -> DeferralKind:
        return cls.QUIET_HOURS if QUIET_HOURS in reason else cls.BLACKOUT


def quiet_hours(start: time | None, end: time | None, zone: str) -> Window | None:
    """A member's quiet hours as a window (None when the member has none)."""
    if start is None or end is None:
        return None
    return Window(start, end, zone, name=QUIET_HOURS)


def scheduled_day(billing_month: date, preferred_day: int) -> date:
    """The day of month M+1 a bill of month M goes out: the preferred day, or the month's last."""
    if not 1 <= preferred_day <= 31:
        raise ValueError(f"preferred day must be 1–31, got {preferred_day}")
    send_month = month_end(billing_month) + timedelta(days=1)
    return send_month.replace(day=min(preferred_day, month_end(send_month).day))


def earliest_allowed(lower_bound: datetime, windows: Sequence[Window]) -> datetime:
    """The earliest instant ≥ lower_bound inside none of the windows."""
    return _out_of_windows(lower_bound, windows)[0]


def _out_of_windows(
    lower_bound: datetime, windows: Sequence[Window]
) -> tuple[datetime, tuple[str, ...]]:
    """earliest_allowed, and the labels of the windows it had to step out of."""
    if lower_bound.tzinfo is None:
        raise ValueError("lower_bound must be timezone-aware")
    t, moved = lower_bound, list[str]()
    for _ in range(MAX_HOPS):
        inside = [(w, inst) for w in windows if (inst := w.instance_around(t)) is not None]
        if not inside:
            return t, tuple(moved)
        moved += [w.label() for w, _ in inside if w.label() not in moved]
        t = max(inst[1] for _, inst in inside)
    raise NoAllowedInstant("the windows leave no time to send")


def check_preferences(windows: Iterable[Window], member_zone: str) -> None:
    """Refuse quiet hours that, with the system blackout, leave some day with no time to send."""
    ws = list(windows)
    tz = ZoneInfo(member_zone)
    monday = date(2026, 11, 2)  # any Monday: the check covers each weekday once
    for offset in range(7):
        day = monday + timedelta(days=offset)
        start = datetime.combine(day, time(0), tzinfo=tz)
        nxt = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
        try:
            found = earliest_allowed(start, ws)
        except NoAllowedInstant:
            found = nxt
        if found >= nxt:
            names = ", ".join(w.label() for w in ws)
            raise NoAllowedInstant(
                f"no time left to send on {WEEKDAY_NAMES[day.weekday()]}: "
                f"{names} cover the whole day"
            )


@dataclass(frozen=True)
class Plan:
    """When a notification goes out, and why then (for `telebill notify plan` and the UI)."""

    send_at: datetime  # UTC
    lower_bound: datetime
    because: str  # what set the lower bound
    moved_by: tuple[str, ...]  # the windows that pushed it past the lower bound

    def explain(self) -> str:
        text = self.because
        if self.moved_by:
            text += "; moved out of " + ", ".join(self.moved_by)
        return text


def plan_send(
    billing_month: date,
    preferred_day: int,
    member_zone: str,
    now: datetime,
    windows: Sequence[Window],
    reserved_at: datetime | None = None,
) -> Plan:
    """The send instant of a bill notification planned at `now`.

    A reservation (예약 발송, or an operator's "send now") replaces the preferred day: the operator
    chose the time. Nothing replaces the windows."""
    if reserved_at is not None:
        lower = max(now, reserved_at)
        because = f"reserved for {reserved_at.isoformat()}" + (
            " (already passed: now)" if now > reserved_at else ""
        )
    else:
        day = scheduled_day(billing_month, preferred_day)
        day_start = datetime.combine(day, time(0), tzinfo=ZoneInfo(member_zone))
        lower = max(now, day_start)
        clamp = "" if day.day == preferred_day else " (clamped to the month's last day)"
        because = f"preferred day {preferred_day}: {day.isoformat()}{clamp}" + (
            " already passed: the next allowed instant" if now > day_start else ""
        )
    at, moved = _out_of_windows(lower, windows)
    return Plan(at.astimezone(ZoneInfo("UTC")), lower, because, moved)
