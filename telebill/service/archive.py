"""`telebill archive …`'s operations, on the deps' connection: the months archived before a
month, one restored, the months online and archived (telebill/archive/months.py does the work)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from telebill.archive.months import MonthArchived, archive_before, archive_root, restore_month
from telebill.db import archive_store as store

if TYPE_CHECKING:
    from telebill.service.deps import Deps

__all__ = ["MonthArchived", "archive_command", "list_command", "restore_command"]


def _root(deps: Deps) -> Path:
    return archive_root(deps.settings.archive_dir, deps.settings.stack_dir)


async def archive_command(
    deps: Deps, before: date, on_month: Callable[[MonthArchived], None]
) -> list[MonthArchived]:
    async with deps.db() as conn:
        return await archive_before(conn, before, _root(deps), on_month)


async def restore_command(deps: Deps, month: date) -> dict[str, int]:
    async with deps.db() as conn:
        return await restore_month(conn, month, _root(deps))


async def list_command(deps: Deps) -> tuple[list[date], list[store.ArchiveRecord]]:
    """(the months online, the months archived)."""
    async with deps.db() as conn:
        return await store.online_months(conn), await store.archives(conn)
