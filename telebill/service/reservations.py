"""Reserved sends (예약 발송): a month's bills, or some members', sent at a chosen instant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from telebill import clock
from telebill.contracts.notification import RESERVATION, RESERVE, MemberListRef
from telebill.domain.month import parse_month
from telebill.errors import Unavailable
from telebill.service.notify import checked_members, checked_month, start_dispatch, tell

if TYPE_CHECKING:
    from telebill.db.reservation_store import Reservation
    from telebill.service.deps import Deps


@dataclass(frozen=True)
class Reserved:
    id: int
    month: str
    send_at: datetime
    dispatch_workflow_id: str


async def reserve(deps: Deps, send_at: datetime, month: str, members: list[int] | None) -> Reserved:
    """Reserve a send: the instant replaces the preferred day, blackout windows and quiet hours
    still apply. A past instant or an unknown member is refused. When Temporal cannot be
    reached the reservation is kept (RESERVED, with the reason) and the daily dispatch starts
    it; the caller is told so with `Unavailable`."""
    month, members = checked_month(month), checked_members(members)
    now = clock.now(deps.settings)
    async with deps.db() as conn:
        rid = await deps.stores.reservations.add_reservation(
            conn, send_at, parse_month(month), members, now
        )
    # its dispatch names the reservation's row, which holds the members already
    ref = MemberListRef(kind=RESERVATION, id=rid) if members else None
    try:
        started = await start_dispatch(deps, month, members, send_at, f"reserve-{rid}", ref)
    except Exception as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        async with deps.db() as conn:
            await deps.stores.reservations.mark_dispatch_failed(conn, rid, why)
        raise Unavailable(
            f"reservation {rid} is kept, but its dispatch failed ({why}); the daily dispatch "
            "starts it, or reserve the same again once Temporal answers"
        ) from None
    async with deps.db() as conn:
        await deps.stores.reservations.mark_dispatched(conn, rid)
    return Reserved(rid, month, send_at, started.workflow_id)


async def reservations(deps: Deps) -> list[Reservation]:
    """Newest first (a RESERVED one has not been dispatched yet: see its error)."""
    async with deps.db() as conn:
        return await deps.stores.reservations.list_reservations(conn)


async def cancel(deps: Deps, reservation_id: int) -> int:
    """Cancel a reservation: its bills go back to their preferred day; how many waiting
    notifications were told to plan again."""
    async with deps.db() as conn:
        r = await deps.stores.reservations.cancel_reservation(conn, reservation_id)
        waiting = await deps.stores.notifications.waiting_workflows(
            conn, r.billing_month, r.member_ids
        )
    return await tell(deps, waiting, RESERVE, None)
