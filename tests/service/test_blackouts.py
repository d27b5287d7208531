"""Blackout windows: added (name trimmed, times and days parsed, in the system time zone),
listed, removed; refusals before the store is asked."""

from __future__ import annotations

from datetime import time

import pytest

from telebill.errors import NotFound, TelebillError
from telebill.service import blackouts
from tests.fakes import FakeBlackouts, FakeDeps, fake_stores


def deps_with() -> tuple[FakeDeps, FakeBlackouts]:
    store = FakeBlackouts()
    deps = FakeDeps(stores=fake_stores(blackouts=store))
    deps.settings = deps.settings.model_copy(update={"system_time_zone": "Europe/Berlin"})
    return deps, store


async def test_add_list_remove() -> None:
    deps, store = deps_with()
    first = await blackouts.add(deps, "  night ", "22:00", "06:00")
    second = await blackouts.add(deps, "weekend", "12:00", "13:00", "sun,sat")
    assert first != second
    listed = await blackouts.blackouts(deps)
    assert [(b.name, b.start, b.end, b.weekdays) for b in listed] == [
        ("weekend", time(12), time(13), (6, 7)),
        ("night", time(22), time(6), None),
    ]
    assert store.zones == ["Europe/Berlin", "Europe/Berlin"]
    await blackouts.remove(deps, "night")
    assert [b.name for b in await blackouts.blackouts(deps)] == ["weekend"]


async def test_refusals() -> None:
    deps, store = deps_with()
    for name, start, end, days, says in (
        ("  ", "22:00", "06:00", None, "needs a name"),
        ("x", "25:00", "06:00", None, "25:00"),
        ("x", "22:00", "06:00", "caturday", "unknown day 'caturday'"),
        ("x", "10:00", "10:00", None, "start ≠ end"),
    ):
        with pytest.raises(TelebillError, match=says):
            await blackouts.add(deps, name, start, end, days)
    assert store.windows == []
    with pytest.raises(NotFound):
        await blackouts.remove(deps, "nope")
