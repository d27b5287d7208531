"""In-memory fakes of what the service layer calls (telebill/service/ports.py): the stores, the
Temporal gateway, and `FakeDeps` that hands them over; no PostgreSQL, Kafka or Temporal."""

from tests.fakes.deps import FakeConn, FakeDeps
from tests.fakes.stores import (
    FakeBlackouts,
    FakeMembers,
    FakeMonthViews,
    FakeNotifications,
    FakeReservations,
    fake_stores,
)
from tests.fakes.temporal import FakeTemporal

__all__ = [
    "FakeBlackouts",
    "FakeConn",
    "FakeDeps",
    "FakeMembers",
    "FakeMonthViews",
    "FakeNotifications",
    "FakeReservations",
    "FakeTemporal",
    "fake_stores",
]
