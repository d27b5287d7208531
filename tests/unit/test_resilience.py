"""Outages are waited out, one bad item is split out of its batch, background tasks are
supervised and a task that keeps failing stops its process with a reason."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from telebill.resilience import TaskFailed, each_alone, is_outage, supervise, wait_out


async def test_each_alone_sets_aside_only_the_items_refused_on_their_own() -> None:
    calls: list[int] = []

    async def write(items: Sequence[int]) -> int:
        calls.append(len(items))
        if 13 in items or 77 in items:
            raise asyncpg.DataError("value out of int64 range")
        return len(items)

    done, refused = await each_alone(list(range(100)), write)
    assert sum(done) == 98
    assert [(i, type(e).__name__) for i, e in refused] == [(13, "DataError"), (77, "DataError")]
    assert len(calls) < 40  # a split per level, not a call per item


async def test_each_alone_raises_an_outage_instead_of_blaming_the_items() -> None:
    async def down(items: Sequence[int]) -> None:
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(ConnectionRefusedError):
        await each_alone([1, 2, 3], down)


def test_outages_are_told_from_refusals() -> None:
    assert is_outage(ConnectionResetError()) and is_outage(asyncpg.CannotConnectNowError())
    assert is_outage(asyncpg.InterfaceError("connection is closed"))
    assert not is_outage(asyncpg.DataError()) and not is_outage(ValueError())


async def test_wait_out_retries_an_outage_until_it_ends_and_raises_anything_else() -> None:
    tries = 0

    async def flaky() -> str:
        nonlocal tries
        tries += 1
        if tries < 4:
            raise ConnectionRefusedError()
        return "ok"

    assert await wait_out("test", flaky, max_wait_s=0.01) == "ok" and tries == 4

    async def wrong() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await wait_out("test", wrong, max_wait_s=0.01)


async def test_a_supervised_task_whose_first_runs_fail_recovers() -> None:
    stop, healthy = asyncio.Event(), asyncio.Event()
    runs = 0

    async def task() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError("first calls fail")
        healthy.set()
        await stop.wait()

    supervisor = asyncio.create_task(supervise("test task", task, stop, max_wait_s=0.01))
    await asyncio.wait_for(healthy.wait(), 10)
    stop.set()
    await supervisor  # ended cleanly, no exception
    assert runs == 4


async def test_a_task_that_keeps_failing_stops_with_a_one_line_reason() -> None:
    async def broken() -> None:
        raise RuntimeError("table deferred_event\nis missing")

    with pytest.raises(
        TaskFailed,
        match="releaser failed 3 times in a row, last: "
        "RuntimeError: table deferred_event is missing",
    ):
        await supervise("releaser", broken, asyncio.Event(), give_up_after=3, max_wait_s=0.01)


async def test_an_outage_never_makes_a_task_give_up() -> None:
    stop = asyncio.Event()
    runs = 0

    async def unreachable() -> None:
        nonlocal runs
        runs += 1
        if runs == 12:
            stop.set()
        raise ConnectionRefusedError()

    await supervise("reporter", unreachable, stop, give_up_after=3, max_wait_s=0.001)
    assert runs == 12


def test_a_one_line_explanation_of_an_outage_is_an_outage_and_of_a_refusal_is_not() -> None:
    from telebill.db.connect import DatabaseUnavailable

    def explained(cause: Exception) -> DatabaseUnavailable:
        try:
            raise DatabaseUnavailable("database at db:5432/x does not answer") from cause
        except DatabaseUnavailable as exc:
            return exc

    assert is_outage(explained(ConnectionRefusedError(111, "refused")))
    assert not is_outage(explained(asyncpg.InvalidPasswordError("password authentication failed")))
