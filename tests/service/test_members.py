"""A member's preferences change: validated, saved, and their waiting notifications told."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from telebill.clock import offset_to
from telebill.contracts.notification import PREFERENCES_CHANGED
from telebill.db.notify_store import Waiting
from telebill.errors import NotFound, TelebillError, Unavailable
from telebill.service import members
from tests.fakes import FakeDeps, FakeMembers, FakeNotifications, FakeTemporal, fake_stores
from tests.fakes.stores import member

SEOUL = ZoneInfo("Asia/Seoul")


def deps_with(
    temporal: FakeTemporal | None,
    waiting: list[Waiting],
    bills: dict[int, tuple[int, date]] | None = None,
) -> FakeDeps:
    stores = fake_stores(
        members=FakeMembers({2: member(2), 3: member(3)}),
        notifications=FakeNotifications(waiting=waiting, bills=bills or {}),
    )
    return FakeDeps(stores=stores, temporal=temporal)


WAITING = [
    Waiting("notify-2026-11-2", 20, 2, "2026-11", "MONTHLY_BILL"),
    Waiting("notify-2026-11-3", 30, 3, "2026-11", "MONTHLY_BILL"),
]


async def test_a_change_is_saved_and_the_members_waiting_notifications_told() -> None:
    temporal = FakeTemporal()
    deps = deps_with(temporal, WAITING)
    saved = await members.update_preferences(deps, 2, preferred_day=5, quiet="22:00-07:00")
    assert (saved.member.preferred_day, saved.member.quiet_start) == (5, time(22))
    assert saved.replanned == 1
    assert temporal.told == [("notify-2026-11-2", PREFERENCES_CHANGED, None)]
    assert (await members.member(deps, 2)).preferred_day == 5
    assert (await members.member(deps, 3)).preferred_day == 10  # the other member untouched


async def test_no_quiet_hours_and_a_channel_the_installation_sends_by() -> None:
    deps = deps_with(FakeTemporal(), [])
    deps.settings = deps.settings.model_copy(update={"channel_chains": "alimtalk>email>sms"})
    await members.update_preferences(deps, 2, quiet="22:00-07:00")
    saved = await members.update_preferences(deps, 2, no_quiet=True, channel="alimtalk")
    assert (saved.member.quiet_start, saved.member.bill_channel) == (None, "alimtalk")
    assert saved.replanned == 0


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({}, "nothing to change"),
        ({"quiet": "22:00-07:00", "no_quiet": True}, "exclude each other"),
        ({"channel": "fax"}, "unknown bill channel 'fax'"),
        ({"preferred_day": 32}, "1–31"),
    ],
)
async def test_refusals(changes: dict[str, object], says: str) -> None:
    deps = deps_with(FakeTemporal(), WAITING)
    with pytest.raises(TelebillError, match=says) as caught:
        await members.update_preferences(deps, 2, **changes)  # type: ignore[arg-type]
    assert not isinstance(caught.value, NotFound | Unavailable)
    assert (await members.member(deps, 2)).preferred_day == 10


async def test_an_unknown_member() -> None:
    with pytest.raises(NotFound):
        await members.update_preferences(deps_with(FakeTemporal(), []), 9, preferred_day=5)


@pytest.mark.parametrize("temporal", [None, FakeTemporal(down=True)], ids=["away", "failing"])
async def test_temporal_away_the_change_is_kept_and_said_so(temporal: FakeTemporal | None) -> None:
    deps = deps_with(temporal, WAITING)
    with pytest.raises(Unavailable, match=r"member 2 saved, but its 1 waiting notification"):
        await members.update_preferences(deps, 2, preferred_day=7)
    assert (await members.member(deps, 2)).preferred_day == 7


async def test_temporal_away_a_bill_planned_for_later_is_planned_again() -> None:
    """A bill planned for the 20th whose workflow the daily dispatch has not started yet: the
    member moves to the 5th while Temporal is away; the change is saved, said so, and the
    bill's plan moves to the 5th, so that the daily dispatch starts it in time (as
    tests/integration/test_service.py checks on the real stack)."""
    planned_only = Waiting(None, 20, 2, "2026-11", "MONTHLY_BILL")
    deps = deps_with(None, [planned_only], bills={20: (2, date(2026, 11, 1))})
    deps.settings = deps.settings.model_copy(
        update={"clock_offset_s": offset_to(datetime(2026, 12, 1, 9, 0, tzinfo=SEOUL))}
    )
    with pytest.raises(Unavailable, match="saved"):
        await members.update_preferences(deps, 2, preferred_day=5)
    notifications = deps.stores.notifications
    assert isinstance(notifications, FakeNotifications)
    plan = notifications.planned[20, "MONTHLY_BILL"]
    assert (plan.send_at, plan.workflow_id) == (datetime(2026, 12, 5, tzinfo=SEOUL), None)
