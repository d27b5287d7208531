"""The month status: PostgreSQL's counts beside Temporal's, Temporal's left out when it is away,
and the warning when bills wait for a daily dispatch that is not running."""

from __future__ import annotations

from datetime import date

import pytest

from telebill.contracts.schedules import DISPATCH_SCHEDULE_ID
from telebill.errors import TelebillError
from telebill.service import month
from tests.fakes import FakeDeps, FakeMonthViews, FakeTemporal, fake_stores
from tests.fakes.stores import empty_month


def deps_with(temporal: FakeTemporal | None, **counts: int) -> tuple[FakeDeps, FakeMonthViews]:
    views = FakeMonthViews({"2026-11": empty_month("2026-11", bills=10, **counts)})
    return FakeDeps(stores=fake_stores(month_views=views), temporal=temporal), views


async def test_both_sides_and_the_daily_dispatch() -> None:
    temporal = FakeTemporal(
        counts={"2026-11": {"SCHEDULED": 4, "DELIVERED_EMAIL": 6}},
        schedules={DISPATCH_SCHEDULE_ID: False},
    )
    deps, views = deps_with(temporal, scheduled=4, delivered_email=6, workflow_later=2)
    view = await month.status(deps, "2026-11")
    assert (view.db.bills, view.db.scheduled, view.db.delivered_email) == (10, 4, 6)
    assert view.temporal == {"SCHEDULED": 4, "DELIVERED_EMAIL": 6}
    assert view.daily_dispatch is True and view.warnings == []
    assert views.asked[0][0] == date(2026, 11, 1)
    assert view.as_dict()["postgresql"]["bills"] == 10


async def test_bills_planned_for_later_without_a_running_daily_dispatch_warn() -> None:
    for schedules in ({}, {DISPATCH_SCHEDULE_ID: True}):  # not installed, paused
        deps, _ = deps_with(FakeTemporal(schedules=schedules), workflow_later=3)
        view = await month.status(deps, "2026-11")
        assert view.daily_dispatch is False
        (warning,) = view.warnings
        assert "3 bill(s)" in warning and "telebill schedules install" in warning


async def test_temporal_away_postgresql_answers_alone() -> None:
    deps, _ = deps_with(None, workflow_later=3)
    view = await month.status(deps, "2026-11")
    assert (view.temporal, view.daily_dispatch, view.warnings) == (None, None, [])
    assert view.db.bills == 10


async def test_not_a_month() -> None:
    deps, views = deps_with(FakeTemporal())
    with pytest.raises(TelebillError, match="2026-13"):
        await month.status(deps, "2026-13")
    assert views.asked == []
