"""System-wide blackout windows (시스템 금지 시간대) in PostgreSQL."""

from __future__ import annotations

import time as monotonic_clock
from dataclasses import dataclass
from datetime import time

import asyncpg

from telebill.db.connect import DbConn
from telebill.db.send_rules import lock_send_windows, members_left_no_time
from telebill.domain.send_window import NoAllowedInstant, Window, check_preferences, parse_hhmm
from telebill.errors import NotFound, TelebillError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Blackout:
    id: int
    name: str
    start: time
    end: time
    weekdays: tuple[int, ...] | None
    active: bool

    def window(self, zone: str) -> Window:
        days = frozenset(self.weekdays) if self.weekdays else None
        return Window(self.start, self.end, zone, days, self.name)

    def days_label(self) -> str:
        return ",".join(DAY_NAMES[d - 1] for d in self.weekdays) if self.weekdays else "every day"


def parse_time(text: str) -> time:
    try:
        return parse_hhmm(text)
    except ValueError as exc:
        raise TelebillError(str(exc)) from None


def parse_days(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    days = []
    for part in text.lower().split(","):
        if part.strip() not in DAY_NAMES:
            raise TelebillError(f"unknown day {part.strip()!r}; use {','.join(DAY_NAMES)}")
        days.append(DAY_NAMES.index(part.strip()) + 1)
    return tuple(sorted(set(days)))


async def list_blackouts(conn: DbConn, active_only: bool = False) -> list[Blackout]:
    rows = await conn.fetch(
        "SELECT id, name, start_time, end_time, weekdays, active FROM blackout_window "
        "WHERE active OR NOT $1 ORDER BY start_time, name",
        active_only,
    )
    return [
        Blackout(
            r["id"],
            r["name"],
            r["start_time"],
            r["end_time"],
            tuple(r["weekdays"]) if r["weekdays"] else None,
            r["active"],
        )
        for r in rows
    ]


async def blackout_windows(conn: DbConn, zone: str) -> list[Window]:
    """The active system windows, in the system time zone `zone`."""
    return [b.window(zone) for b in await list_blackouts(conn, active_only=True)]


class BlackoutCache:
    """The active system windows, re-read at most every `refresh_s` (a window added applies
    within that): the consumers check every event and the planner every bill against them, so
    neither asks PostgreSQL per event."""

    def __init__(self, zone: str, refresh_s: float) -> None:
        self.zone = zone
        self.refresh_s = refresh_s
        self._read: tuple[float, tuple[Window, ...]] | None = None

    async def windows(self, conn: DbConn) -> list[Window]:
        """A fresh list each call: callers add the member's quiet hours to it."""
        read = self._read
        if read is None or monotonic_clock.monotonic() - read[0] >= self.refresh_s:
            read = (monotonic_clock.monotonic(), tuple(await blackout_windows(conn, self.zone)))
            self._read = read
        return list(read[1])


async def add_blackout(
    conn: DbConn, name: str, start: time, end: time, weekdays: tuple[int, ...] | None, zone: str
) -> int:
    """Store a window; refused when empty, named twice, or when with the others it leaves a
    day with no time to send, for everyone or for some members (their quiet hours)."""
    if start == end:
        raise TelebillError("a blackout window needs start ≠ end")
    new = Window(start, end, zone, frozenset(weekdays) if weekdays else None, name)
    async with conn.transaction():
        await lock_send_windows(conn)  # read, check and insert as one, against any other
        windows = [*await blackout_windows(conn, zone), new]
        try:
            check_preferences(windows, zone)
        except NoAllowedInstant as exc:
            raise TelebillError(f"refused: {exc}") from None
        blocked = await members_left_no_time(conn, windows)
        if blocked is not None:
            raise TelebillError(f"refused: {blocked.describe()}")
        try:
            return int(
                await conn.fetchval(
                    "INSERT INTO blackout_window (name, start_time, end_time, weekdays) "
                    "VALUES ($1, $2, $3, $4) RETURNING id",
                    name,
                    start,
                    end,
                    list(weekdays) if weekdays else None,
                )
            )
        except asyncpg.UniqueViolationError:
            raise TelebillError(f"a blackout window named {name!r} exists already") from None


async def remove_blackout(conn: DbConn, name: str) -> None:
    if await conn.execute("DELETE FROM blackout_window WHERE name = $1", name) == "DELETE 0":
        raise NotFound(f"no blackout window named {name!r}")
