"""`telebill blackout`: system windows stored, listed, removed; a window that would leave a day
with no time to send is refused."""

from __future__ import annotations

import asyncio
from datetime import time

import asyncpg
import pytest

from telebill.db.blackout_store import (
    BlackoutCache,
    add_blackout,
    list_blackouts,
    remove_blackout,
)
from telebill.db.connect import connect
from telebill.db.send_rules import lock_send_windows
from telebill.domain.month import parse_month
from telebill.errors import TelebillError
from telebill.seed.load import seed_population
from tests.helpers import run_cli
from tests.integration.conftest import Databases

SEOUL = "Asia/Seoul"


async def test_add_list_remove(db: asyncpg.Connection) -> None:
    await add_blackout(db, "night", time(21), time(8), None, SEOUL)
    await add_blackout(db, "maintenance", time(2), time(4), (7,), SEOUL)
    listed = {b.name: b for b in await list_blackouts(db)}
    assert listed["night"].window(SEOUL).wraps
    assert listed["maintenance"].days_label() == "sun"
    with pytest.raises(TelebillError, match="exists already"):
        await add_blackout(db, "night", time(22), time(7), None, SEOUL)
    await remove_blackout(db, "maintenance")
    assert [b.name for b in await list_blackouts(db)] == ["night"]
    with pytest.raises(TelebillError, match="no blackout window named 'nope'"):
        await remove_blackout(db, "nope")


async def test_a_window_that_blocks_a_whole_day_is_refused(db: asyncpg.Connection) -> None:
    await add_blackout(db, "night", time(21), time(8), None, SEOUL)
    with pytest.raises(TelebillError, match="no time left to send on Saturdays"):
        await add_blackout(db, "weekend day", time(8), time(21), (6,), SEOUL)
    assert [b.name for b in await list_blackouts(db)] == ["night"]


async def test_the_cache_rereads_the_windows_only_after_its_refresh_period(
    db: asyncpg.Connection,
) -> None:
    await add_blackout(db, "night", time(21), time(8), None, SEOUL)
    kept, fresh = BlackoutCache(SEOUL, 3600), BlackoutCache(SEOUL, 0)
    first = await kept.windows(db)
    assert [w.name for w in first] == ["night"]
    assert [w.name for w in await fresh.windows(db)] == ["night"]
    first.append(first[0])  # a caller adding quiet hours does not change what is cached
    await add_blackout(db, "maintenance", time(2), time(4), (7,), SEOUL)
    assert [w.name for w in await kept.windows(db)] == ["night"]
    assert sorted(w.name for w in await fresh.windows(db)) == ["maintenance", "night"]


async def test_cli_round_trip_and_one_line_errors(databases: Databases) -> None:
    env = {"DATABASE_URL": await databases.create(), "COLUMNS": "200"}

    def cli(*args: str) -> tuple[int, str, str]:
        r = run_cli("blackout", *args, env=env)
        return r.returncode, r.stdout, r.stderr

    code, out, _ = await asyncio.to_thread(
        cli, "add", "--name", "night", "--from", "21:00", "--to", "08:00"
    )
    assert code == 0 and "added" in out
    code, out, _ = await asyncio.to_thread(cli, "list")
    assert "night" in out and "21:00" in out and "every day" in out
    for args, message in (
        (("add", "--name", "x", "--from", "25:00", "--to", "08:00"), "time must be HH:MM"),
        (
            ("add", "--name", "x", "--from", "01:00", "--to", "02:00", "--days", "funday"),
            "unknown day",
        ),
        (("remove", "--name", "ghost"), "no blackout window named 'ghost'"),
    ):
        code, _, err = await asyncio.to_thread(cli, *args)
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1


async def test_a_window_that_leaves_some_members_no_time_is_refused_with_how_many(
    db: asyncpg.Connection,
) -> None:
    await seed_population(db, 30, parse_month("2026-11"), None, workers=1)
    await db.execute("UPDATE member SET quiet_start = NULL, quiet_end = NULL")
    # members 4 and 9 sleep by day: they may be sent to from 20:00 to 09:00 only
    await db.execute(
        "UPDATE member SET quiet_start = '09:00', quiet_end = '20:00', timezone = $1 "
        "WHERE id IN (4, 9)",
        SEOUL,
    )
    with pytest.raises(TelebillError) as refused:
        await add_blackout(db, "evening", time(19), time(10), None, SEOUL)
    assert "2 member(s) would have no time to send, e.g. member 4 (quiet hours 09:00–20:00 " in (
        str(refused.value)
    )
    assert await list_blackouts(db) == []
    await add_blackout(db, "late evening", time(21), time(8), None, SEOUL)  # leaves 20–21, 8–9


async def test_two_adds_at_once_cannot_together_close_every_day(databases: Databases) -> None:
    url = await databases.create()
    first, second, holder = [await connect(url) for _ in range(3)]
    try:
        async with holder.transaction():  # both adds wait for the lock, then run one by one
            await lock_send_windows(holder)
            adds = [
                asyncio.create_task(add_blackout(first, "morning", time(0), time(12), None, SEOUL)),
                asyncio.create_task(
                    add_blackout(second, "afternoon", time(12), time(0), None, SEOUL)
                ),
            ]
            await asyncio.sleep(0.5)
            assert not any(a.done() for a in adds)  # each waits for the lock to check
        results = await asyncio.gather(*adds, return_exceptions=True)
        refused = [r for r in results if isinstance(r, TelebillError)]
        assert len(refused) == 1 and "cover the whole day" in str(refused[0])
        assert len(await list_blackouts(holder)) == 1
    finally:
        for c in (first, second, holder):
            await c.close()
