"""What an operator may do: send a month now, catch up, resend a bill, reserve and cancel a
send, replay dead letters. Every call is audited; the sending ones are rate-limited."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from telebill.api import bodies
from telebill.api.security import (
    LIMITED,
    REFUSALS,
    AsOperator,
    Caller,
    CallerFirst,
    audited,
    sending,
)
from telebill.service import dead_letters, notify
from telebill.service import reservations as reserved

router = APIRouter(prefix="/api", tags=["send"], responses=REFUSALS, route_class=CallerFirst)


async def _dispatched(
    request: Request, c: Caller, month_id: str, members: list[int] | None, now: bool
) -> dict[str, Any]:
    start = notify.send_now if now else notify.catch_up
    started = await sending(
        request,
        c,
        {"month": month_id, "members": members},
        start(c.deps, month_id, members),
        lambda s: f"dispatch {s.workflow_id}",
    )
    return asdict(started)


@router.post("/months/{month_id}/send-now", responses=LIMITED)
async def send_now(
    request: Request, c: AsOperator, month_id: str, body: bodies.Members
) -> dict[str, Any]:
    """The admin's "send now" (관리자 즉시 발송): the month's bills (or these members') at the
    next instant outside blackout windows and quiet hours."""
    return await _dispatched(request, c, month_id, body.members, now=True)


@router.post("/months/{month_id}/dispatch", responses=LIMITED)
async def dispatch(
    request: Request, c: AsOperator, month_id: str, body: bodies.Members
) -> dict[str, Any]:
    """What the daily Schedule does: every undelivered bill has its notification workflow."""
    return await _dispatched(request, c, month_id, body.members, now=False)


@router.post("/bills/{bill_id}/resend", responses=LIMITED)
async def resend(
    request: Request, c: AsOperator, bill_id: bodies.PathId, body: bodies.Resend
) -> dict[str, Any]:
    target = {"bill": bill_id, "channel": body.channel}
    done = await sending(
        request,
        c,
        target,
        notify.resend(c.deps, bill_id, body.channel),
        lambda r: f"{r.purpose}: workflow {r.workflow_id}",
    )
    return asdict(done)


@router.post("/reservations", status_code=201, responses=LIMITED)
async def reserve(request: Request, c: AsOperator, body: bodies.Reserve) -> dict[str, Any]:
    """Reserve a send (예약 발송); a past instant or an unknown member is refused."""
    when = notify.parse_instant(body.at, c.deps.settings.system_time_zone, "at")
    target = {"at": body.at, "month": body.month, "members": body.members}
    done = await sending(
        request,
        c,
        target,
        reserved.reserve(c.deps, when, body.month, body.members),
        lambda r: f"reservation {r.id}",
    )
    return asdict(done)


@router.delete("/reservations/{reservation_id}")
async def reservation_cancel(
    request: Request, c: AsOperator, reservation_id: bodies.PathId
) -> dict[str, Any]:
    told = await audited(
        request,
        c,
        {"reservation": reservation_id},
        reserved.cancel(c.deps, reservation_id),
        lambda n: f"{n} waiting notification(s) re-planned",
    )
    return {"reservation": reservation_id, "replanned": told}


@router.post("/dead-letters/replay", responses=LIMITED)
async def dlq_replay(request: Request, c: AsOperator, body: bodies.Replay) -> dict[str, Any]:
    """Back to the start of the chain; delivered bills are not sent again."""
    target = {"ids": body.ids, "all": body.all}
    done = await sending(
        request,
        c,
        target,
        dead_letters.replay(c.deps, body.ids, body.all),
        lambda r: f"replayed {r.done}, skipped {[i for i, _ in r.skipped]}",
    )
    return {"replayed": done.done, "skipped": [{"id": i, "why": w} for i, w in done.skipped]}
