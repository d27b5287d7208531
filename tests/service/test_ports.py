"""The real stores and the Temporal gateway satisfy the service layer's protocols (checked by
mypy on the assignments below), and so do the fakes; `Stores()` is the real stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telebill.db import blackout_store, member_store, month_views, notify_store, reservation_store
from telebill.service.ports import (
    BlackoutStore,
    MemberStore,
    MonthViews,
    NotifyStore,
    ReservationStore,
    Stores,
    Temporal,
)
from tests.fakes import (
    FakeBlackouts,
    FakeMembers,
    FakeMonthViews,
    FakeNotifications,
    FakeReservations,
    FakeTemporal,
)

if TYPE_CHECKING:
    from telebill.temporal_gateway import TemporalGateway


def test_the_real_stores_are_the_default() -> None:
    stores = Stores()
    assert (stores.members, stores.notifications, stores.reservations) == (
        member_store,
        notify_store,
        reservation_store,
    )
    assert (stores.blackouts, stores.month_views) == (blackout_store, month_views)


def test_the_fakes_satisfy_the_protocols() -> None:
    members: MemberStore = FakeMembers()
    notifications: NotifyStore = FakeNotifications()
    reservations: ReservationStore = FakeReservations()
    blackouts: BlackoutStore = FakeBlackouts()
    views: MonthViews = FakeMonthViews()
    temporal: Temporal = FakeTemporal()
    assert all((members, notifications, reservations, blackouts, views, temporal))


def the_gateway_satisfies_temporal(gateway: TemporalGateway) -> Temporal:
    return gateway  # mypy fails here if the gateway and the protocol part
