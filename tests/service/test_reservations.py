"""A reservation: stored, its dispatch started naming the reservation's row, marked dispatched;
kept and said so when Temporal is away; cancelled, its waiting notifications told."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from telebill.contracts.notification import RESERVATION, RESERVE, MemberListRef
from telebill.db.notify_store import Waiting
from telebill.domain.statuses import ReservationStatus
from telebill.errors import NotFound, TelebillError, Unavailable
from telebill.service import reservations
from tests.fakes import FakeDeps, FakeNotifications, FakeReservations, FakeTemporal, fake_stores

SEOUL = ZoneInfo("Asia/Seoul")
LATER = datetime.now(SEOUL).replace(microsecond=0) + timedelta(days=3)


def deps_with(temporal: FakeTemporal | None, waiting: list[Waiting] | None = None) -> FakeDeps:
    stores = fake_stores(
        reservations=FakeReservations(known_members={1, 2, 3}),
        notifications=FakeNotifications(waiting=waiting or []),
    )
    return FakeDeps(stores=stores, temporal=temporal)


async def test_a_reservation_of_some_members_is_dispatched_by_reference() -> None:
    temporal = FakeTemporal()
    deps = deps_with(temporal)
    reserved = await reservations.reserve(deps, LATER, "2026-11", [2, 3])
    (kept,) = await reservations.reservations(deps)
    assert (kept.id, kept.member_ids, kept.status) == (reserved.id, [2, 3], "DISPATCHED")
    assert kept.billing_month == date(2026, 11, 1)
    inp = temporal.dispatches[reserved.dispatch_workflow_id]
    assert inp.member_list == MemberListRef(kind=RESERVATION, id=reserved.id)
    assert (inp.month, inp.reserved_at) == ("2026-11", LATER.isoformat())
    assert f"reserve-{reserved.id}" in reserved.dispatch_workflow_id


async def test_a_reservation_of_the_whole_month_names_no_list() -> None:
    temporal = FakeTemporal()
    reserved = await reservations.reserve(deps_with(temporal), LATER, "2026-11", None)
    assert temporal.dispatches[reserved.dispatch_workflow_id].member_list is None


@pytest.mark.parametrize("temporal", [None, FakeTemporal(down=True)], ids=["away", "failing"])
async def test_temporal_away_the_reservation_is_kept_and_said_so(
    temporal: FakeTemporal | None,
) -> None:
    deps = deps_with(temporal)
    with pytest.raises(Unavailable, match="reservation 1 is kept"):
        await reservations.reserve(deps, LATER, "2026-11", [2])
    (kept,) = await reservations.reservations(deps)
    assert (kept.member_ids, kept.status) == ([2], ReservationStatus.RESERVED)
    assert kept.last_error


async def test_refusals() -> None:
    deps = deps_with(FakeTemporal())
    with pytest.raises(TelebillError, match="has passed"):
        await reservations.reserve(deps, LATER - timedelta(days=30), "2026-11", None)
    with pytest.raises(NotFound, match="no member 9"):
        await reservations.reserve(deps, LATER, "2026-11", [2, 9])
    with pytest.raises(TelebillError, match="2026-13"):
        await reservations.reserve(deps, LATER, "2026-13", None)
    assert await reservations.reservations(deps) == []


async def test_a_cancelled_reservation_tells_its_waiting_notifications() -> None:
    temporal = FakeTemporal()
    waiting = [
        Waiting("notify-2026-11-2", 20, 2, "2026-11", "MONTHLY_BILL"),
        Waiting("notify-2026-11-5", 50, 5, "2026-11", "MONTHLY_BILL"),  # not in the reservation
    ]
    deps = deps_with(temporal, waiting)
    reserved = await reservations.reserve(deps, LATER, "2026-11", [2, 3])
    assert await reservations.cancel(deps, reserved.id) == 1
    assert temporal.told == [("notify-2026-11-2", RESERVE, None)]
    (kept,) = await reservations.reservations(deps)
    assert kept.status == ReservationStatus.CANCELLED
