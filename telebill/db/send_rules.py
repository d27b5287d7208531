"""The rule that every member keeps some time to send on every day, whatever the system
blackout windows and their own quiet hours (DESIGN section 5), and the one lock under which
both are changed, so that two changes at once (two `blackout add`, or one with a `member
update`) cannot together break it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from telebill.db.connect import DbConn
from telebill.domain.send_window import NoAllowedInstant, Window, check_preferences, quiet_hours

LOCK_KEY = "telebill:send-windows"


async def lock_send_windows(conn: DbConn) -> None:
    """Held until the caller's transaction ends (call it inside one)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", LOCK_KEY)


@dataclass(frozen=True)
class Blocked:
    members: int
    example_member: int
    quiet_start: time
    quiet_end: time
    timezone: str
    why: str

    def describe(self) -> str:
        return (
            f"{self.members:,} member(s) would have no time to send, e.g. member "
            f"{self.example_member} (quiet hours {self.quiet_start:%H:%M}–{self.quiet_end:%H:%M} "
            f"{self.timezone}): {self.why}"
        )


async def members_left_no_time(conn: DbConn, system_windows: list[Window]) -> Blocked | None:
    """Whether these system windows leave members no time on some day: how many, and one of
    them. One query for all members (grouped by their quiet hours and zone)."""
    rows = await conn.fetch(
        "SELECT quiet_start, quiet_end, timezone, count(*) AS members, min(id) AS example "
        "FROM member WHERE quiet_start IS NOT NULL GROUP BY 1, 2, 3"
    )
    blocked: list[tuple[int, int, time, time, str, str]] = []
    for r in rows:
        own = quiet_hours(r["quiet_start"], r["quiet_end"], r["timezone"])
        try:
            check_preferences([*system_windows, *([own] if own else [])], r["timezone"])
        except NoAllowedInstant as exc:
            blocked.append(
                (
                    r["members"],
                    r["example"],
                    r["quiet_start"],
                    r["quiet_end"],
                    r["timezone"],
                    str(exc),
                )
            )
    if not blocked:
        return None
    first = min(blocked, key=lambda b: b[1])
    return Blocked(sum(b[0] for b in blocked), *first[1:])
