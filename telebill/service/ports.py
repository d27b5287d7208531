"""What the service layer needs from outside, as small protocols: the stores it calls (only the
functions it calls) and Temporal (the gateway's methods it calls).

The real ones are the store modules of telebill/db/ themselves (a module satisfies a protocol
of its functions) and telebill/temporal_gateway.TemporalGateway; `Stores()` holds the real
stores and is what `Deps` carries unless given others. The in-memory fakes of tests/fakes/
satisfy the same protocols, so the service layer's tests (tests/service/) run without
PostgreSQL, Kafka or Temporal.

Each store function takes the connection first, as the real ones do; a fake ignores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Protocol

from telebill.db import blackout_store, member_store, month_views, notify_store, reservation_store

if TYPE_CHECKING:
    from temporalio.client import Schedule, ScheduleDescription

    from telebill.contracts.dispatch import DispatchInput, DispatchResult
    from telebill.contracts.notification import NotifyInput
    from telebill.contracts.settlement import (
        SettlementInput,
        SettlementProgress,
        SettlementSummary,
    )
    from telebill.db.blackout_store import Blackout
    from telebill.db.connect import DbConn
    from telebill.db.member_store import MemberPrefs
    from telebill.db.month_views import MonthStatus
    from telebill.db.notify_store import BillPreferences, PlannedSend, Waiting
    from telebill.db.reservation_store import Reservation
    from telebill.domain.send_window import Window
    from telebill.notify_search import StuckWorkflow
    from telebill.temporal_gateway import Started


class MemberStore(Protocol):
    async def get_member(self, conn: DbConn, member_id: int) -> MemberPrefs: ...

    async def update_member(
        self,
        conn: DbConn,
        member_id: int,
        system_zone: str,
        preferred_day: int | None = None,
        quiet: tuple[time, time] | None = None,
        no_quiet: bool = False,
        timezone: str | None = None,
        bill_channel: str | None = None,
    ) -> MemberPrefs: ...


class NotifyStore(Protocol):
    async def waiting_workflows(
        self,
        conn: DbConn,
        month: date | None = None,
        member_ids: Sequence[int] | None = None,
        *,
        unstarted: bool = False,
    ) -> list[Waiting]: ...

    async def load_preferences_of(
        self, conn: DbConn, bill_ids: Sequence[int], purpose: str
    ) -> list[BillPreferences]: ...

    async def record_plans(
        self, conn: DbConn, purpose: str, plans: Sequence[PlannedSend]
    ) -> None: ...

    async def bill_of(self, conn: DbConn, bill_id: int) -> tuple[int, date] | None: ...

    async def resend_count(self, conn: DbConn, bill_id: int) -> int: ...


class ReservationStore(Protocol):
    async def add_reservation(
        self,
        conn: DbConn,
        send_at: datetime,
        month: date,
        members: Sequence[int] | None,
        now: datetime,
    ) -> int: ...

    async def add_send_list(self, conn: DbConn, month: date, members: Sequence[int]) -> int: ...

    async def mark_dispatched(self, conn: DbConn, reservation_id: int) -> None: ...

    async def mark_dispatch_failed(self, conn: DbConn, reservation_id: int, error: str) -> None: ...

    async def list_reservations(self, conn: DbConn) -> list[Reservation]: ...

    async def cancel_reservation(self, conn: DbConn, reservation_id: int) -> Reservation: ...


class BlackoutStore(Protocol):
    async def list_blackouts(self, conn: DbConn, active_only: bool = False) -> list[Blackout]: ...

    async def blackout_windows(self, conn: DbConn, zone: str) -> list[Window]: ...

    async def add_blackout(
        self,
        conn: DbConn,
        name: str,
        start: time,
        end: time,
        weekdays: tuple[int, ...] | None,
        zone: str,
    ) -> int: ...

    async def remove_blackout(self, conn: DbConn, name: str) -> None: ...


class MonthViews(Protocol):
    async def month_status(self, conn: DbConn, month: date, now: datetime) -> MonthStatus: ...


@dataclass(frozen=True)
class Stores:
    """The stores the service layer calls; the real ones unless told otherwise."""

    members: MemberStore = field(default=member_store)
    notifications: NotifyStore = field(default=notify_store)
    reservations: ReservationStore = field(default=reservation_store)
    blackouts: BlackoutStore = field(default=blackout_store)
    month_views: MonthViews = field(default=month_views)


class Temporal(Protocol):
    """The Temporal gateway (telebill/temporal_gateway.py) as the service layer calls it."""

    async def tell_waiting(self, waiting: Sequence[Waiting], signal: str, arg: object) -> int: ...

    async def start_resend(
        self, params: NotifyInput, workflow_id: str, memo: dict[str, str]
    ) -> tuple[str, str | None]: ...

    async def start_dispatch(self, inp: DispatchInput, workflow_id: str) -> str: ...

    async def dispatch_result(self, workflow_id: str) -> DispatchResult: ...

    async def start_settlement(self, inp: SettlementInput) -> Started: ...

    async def settlement_polled(self) -> bool: ...

    async def settlement_progress(self, workflow_id: str) -> SettlementProgress: ...

    async def settlement_result(self, workflow_id: str) -> SettlementSummary: ...

    async def upsert_schedule(self, schedule_id: str, schedule: Schedule) -> str: ...

    async def describe_schedule(self, schedule_id: str) -> ScheduleDescription | None: ...

    async def workflow_outcome(self, workflow_id: str, run_id: str | None) -> str: ...

    async def notify_status_counts(self, month: str) -> dict[str, int]: ...

    async def stuck_page(
        self, month: str, size: int, token: bytes | None
    ) -> tuple[list[StuckWorkflow], bytes | None]: ...
