"""The stores in memory: the functions of telebill/service/ports.py's protocols, over lists and
dicts, with the refusals of the real ones that the service layer passes on (an unknown member,
a past instant, an unknown window). Each ignores its connection."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telebill.db.blackout_store import Blackout
from telebill.db.member_store import MemberPrefs
from telebill.db.month_views import MonthStatus
from telebill.db.notify_store import BillPreferences, PlannedSend, Waiting
from telebill.db.reservation_store import Reservation
from telebill.domain.send_window import Window
from telebill.domain.statuses import ReservationStatus
from telebill.errors import NotFound, TelebillError
from telebill.service.ports import Stores


def member(member_id: int, **changes: Any) -> MemberPrefs:
    """A member as the seed makes them, with `changes`."""
    base = MemberPrefs(
        id=member_id,
        name=f"Member {member_id}",
        email=f"m{member_id}@example.com",
        phone=f"010-0000-{member_id:04d}",
        preferred_day=10,
        quiet_start=None,
        quiet_end=None,
        timezone="Asia/Seoul",
        micro_payment_limit_krw=300_000,
        bill_channel="email",
        has_app=False,
    )
    return dataclasses.replace(base, **changes)


@dataclass
class FakeMembers:
    members: dict[int, MemberPrefs] = field(default_factory=dict)

    async def get_member(self, conn: object, member_id: int) -> MemberPrefs:
        if member_id not in self.members:
            raise NotFound(f"no member {member_id}")
        return self.members[member_id]

    async def update_member(
        self,
        conn: object,
        member_id: int,
        system_zone: str,
        preferred_day: int | None = None,
        quiet: tuple[time, time] | None = None,
        no_quiet: bool = False,
        timezone: str | None = None,
        bill_channel: str | None = None,
    ) -> MemberPrefs:
        m = await self.get_member(conn, member_id)
        if preferred_day is not None and not 1 <= preferred_day <= 31:
            raise TelebillError(f"preferred day must be 1–31, got {preferred_day}")
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise TelebillError(f"unknown time zone {timezone!r}") from None
        changes: dict[str, Any] = {}
        if preferred_day is not None:
            changes["preferred_day"] = preferred_day
        if quiet is not None:
            changes["quiet_start"], changes["quiet_end"] = quiet
        if no_quiet:
            changes["quiet_start"] = changes["quiet_end"] = None
        if timezone is not None:
            changes["timezone"] = timezone
        if bill_channel is not None:
            changes["bill_channel"] = bill_channel
        self.members[member_id] = dataclasses.replace(m, **changes)
        return self.members[member_id]


@dataclass
class FakeNotifications:
    bills: dict[int, tuple[int, date]] = field(default_factory=dict)  # bill → member, month
    resends: dict[int, int] = field(default_factory=dict)  # bill → RESEND-n rows
    waiting: list[Waiting] = field(default_factory=list)
    planned: dict[tuple[int, str], PlannedSend] = field(default_factory=dict)  # bill, purpose
    # the members the bills' preferences are read from (`fake_stores` links its own)
    members: FakeMembers | None = None

    async def load_preferences_of(
        self, conn: object, bill_ids: Sequence[int], purpose: str
    ) -> list[BillPreferences]:
        assert self.members is not None, "load_preferences_of reads the members' fake"
        found = []
        for bill_id in bill_ids:
            if bill_id not in self.bills:
                continue
            member_id, month = self.bills[bill_id]
            m = await self.members.get_member(conn, member_id)
            ready = datetime.combine(month, time(), ZoneInfo("UTC"))
            found.append(
                BillPreferences(
                    bill_id,
                    member_id,
                    month,
                    ready,
                    m.preferred_day,
                    m.quiet_start,
                    m.quiet_end,
                    m.timezone,
                    None,
                    m.bill_channel,
                )
            )
        return found

    async def record_plans(self, conn: object, purpose: str, plans: Sequence[PlannedSend]) -> None:
        for p in plans:
            self.planned[p.bill_id, purpose] = p

    async def waiting_workflows(
        self,
        conn: object,
        month: date | None = None,
        member_ids: Sequence[int] | None = None,
        *,
        unstarted: bool = False,
    ) -> list[Waiting]:
        return [
            w
            for w in self.waiting
            if (month is None or w.month == f"{month:%Y-%m}")
            and (member_ids is None or w.member_id in member_ids)
            and (unstarted or w.workflow_id is not None)
        ]

    async def bill_of(self, conn: object, bill_id: int) -> tuple[int, date] | None:
        return self.bills.get(bill_id)

    async def resend_count(self, conn: object, bill_id: int) -> int:
        return self.resends.get(bill_id, 0)


@dataclass
class FakeReservations:
    known_members: set[int] = field(default_factory=set)
    reservations: dict[int, Reservation] = field(default_factory=dict)
    send_lists: dict[int, tuple[date, list[int]]] = field(default_factory=dict)

    async def add_reservation(
        self,
        conn: object,
        send_at: datetime,
        month: date,
        members: Sequence[int] | None,
        now: datetime,
    ) -> int:
        if send_at <= now:
            raise TelebillError(f"--at {send_at.isoformat()} has passed")
        if members and (unknown := set(members) - self.known_members):
            raise NotFound(f"no member {min(unknown)}")
        rid = len(self.reservations) + 1
        self.reservations[rid] = Reservation(
            rid,
            send_at,
            month,
            list(members) if members else None,
            ReservationStatus.RESERVED,
            now,
            None,
        )
        return rid

    async def add_send_list(self, conn: object, month: date, members: Sequence[int]) -> int:
        list_id = len(self.send_lists) + 1
        self.send_lists[list_id] = (month, list(members))
        return list_id

    def _get(self, reservation_id: int) -> Reservation:
        if reservation_id not in self.reservations:
            raise NotFound(f"no reservation {reservation_id}")
        return self.reservations[reservation_id]

    async def mark_dispatched(self, conn: object, reservation_id: int) -> None:
        r = self._get(reservation_id)
        self.reservations[reservation_id] = dataclasses.replace(
            r, status=ReservationStatus.DISPATCHED, last_error=None
        )

    async def mark_dispatch_failed(self, conn: object, reservation_id: int, error: str) -> None:
        r = self._get(reservation_id)
        self.reservations[reservation_id] = dataclasses.replace(r, last_error=error)

    async def list_reservations(self, conn: object) -> list[Reservation]:
        return sorted(self.reservations.values(), key=lambda r: -r.id)

    async def cancel_reservation(self, conn: object, reservation_id: int) -> Reservation:
        r = self._get(reservation_id)
        self.reservations[reservation_id] = dataclasses.replace(
            r, status=ReservationStatus.CANCELLED
        )
        return r


@dataclass
class FakeBlackouts:
    windows: list[Blackout] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)  # the zone of each add, as given

    async def list_blackouts(self, conn: object, active_only: bool = False) -> list[Blackout]:
        found = [b for b in self.windows if b.active or not active_only]
        return sorted(found, key=lambda b: (b.start, b.name))

    async def blackout_windows(self, conn: object, zone: str) -> list[Window]:
        return [b.window(zone) for b in await self.list_blackouts(conn, active_only=True)]

    async def add_blackout(
        self,
        conn: object,
        name: str,
        start: time,
        end: time,
        weekdays: tuple[int, ...] | None,
        zone: str,
    ) -> int:
        if start == end:
            raise TelebillError("a blackout window needs start ≠ end")
        if any(b.name == name for b in self.windows):
            raise TelebillError(f"a blackout window named {name!r} exists already")
        new_id = max((b.id for b in self.windows), default=0) + 1
        self.windows.append(Blackout(new_id, name, start, end, weekdays, True))
        self.zones.append(zone)
        return new_id

    async def remove_blackout(self, conn: object, name: str) -> None:
        kept = [b for b in self.windows if b.name != name]
        if len(kept) == len(self.windows):
            raise NotFound(f"no blackout window named {name!r}")
        self.windows = kept


def empty_month(month: str, **counts: Any) -> MonthStatus:
    """A month's status with every count 0 but `counts`."""
    zero: dict[str, Any] = {
        f.name: 0 for f in dataclasses.fields(MonthStatus) if f.name not in ("month",)
    }
    zero.update(next_send_at=None, delivered_by={})
    return MonthStatus(month=month, **(zero | counts))


@dataclass
class FakeMonthViews:
    months: dict[str, MonthStatus] = field(default_factory=dict)
    asked: list[tuple[date, datetime]] = field(default_factory=list)

    async def month_status(self, conn: object, month: date, now: datetime) -> MonthStatus:
        self.asked.append((month, now))
        key = f"{month:%Y-%m}"
        return self.months.get(key) or empty_month(key)


def fake_stores(
    members: FakeMembers | None = None,
    notifications: FakeNotifications | None = None,
    reservations: FakeReservations | None = None,
    blackouts: FakeBlackouts | None = None,
    month_views: FakeMonthViews | None = None,
) -> Stores:
    members = members or FakeMembers()
    notifications = notifications or FakeNotifications()
    if notifications.members is None:
        notifications.members = members
    return Stores(
        members=members,
        notifications=notifications,
        reservations=reservations or FakeReservations(),
        blackouts=blackouts or FakeBlackouts(),
        month_views=month_views or FakeMonthViews(),
    )
