"""System blackout windows (시스템 금지 시간대), in the system time zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telebill.db.blackout_store import parse_days, parse_time
from telebill.errors import TelebillError

if TYPE_CHECKING:
    from telebill.db.blackout_store import Blackout
    from telebill.service.deps import Deps


async def blackouts(deps: Deps) -> list[Blackout]:
    async with deps.db() as conn:
        return await deps.stores.blackouts.list_blackouts(conn)


async def add(deps: Deps, name: str, start: str, end: str, days: str | None = None) -> int:
    """Add a window [start, end) (HH:MM, may wrap midnight), on some weekdays ('sat,sun') or
    every day; refused if, with the others, it leaves a day with no time to send."""
    if not name.strip():
        raise TelebillError("a blackout window needs a name")
    s, e, d = parse_time(start), parse_time(end), parse_days(days)
    async with deps.db() as conn:
        return await deps.stores.blackouts.add_blackout(
            conn, name.strip(), s, e, d, deps.settings.system_time_zone
        )


async def remove(deps: Deps, name: str) -> None:
    async with deps.db() as conn:
        await deps.stores.blackouts.remove_blackout(conn, name)
