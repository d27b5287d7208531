"""What a viewer may read: a month, its STUCK bills and settlement, members and their bills,
reservations, dead letters, templates, blackout windows; the admin reads the audit log."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from telebill.api import bodies
from telebill.api.security import LIMITED, REFUSALS, AsAdmin, AsViewer, CallerFirst, personal_data
from telebill.service import access, blackouts, dead_letters, members, month, notify
from telebill.service import reservations as reserved
from telebill.service import templates as tpl

router = APIRouter(prefix="/api", tags=["read"], responses=REFUSALS, route_class=CallerFirst)


@router.get("/months/{month_id}/status")
async def month_status(c: AsViewer, month_id: str) -> dict[str, Any]:
    """PostgreSQL's counts of the month's notifications, and Temporal's NotifyStatus counts
    (null when Temporal does not answer), whether the daily dispatch Schedule runs, and what
    the operator must act on."""
    view = await month.status(c.deps, month_id)
    return {"month": month_id, **view.as_dict()}


@router.get("/months/{month_id}/stuck")
async def month_stuck(
    response: Response,
    c: AsViewer,
    month_id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    page: Annotated[str | None, Query(max_length=2_000)] = None,
) -> list[month.StuckBill]:
    """One page; the next one's address is in the `Link` header (rel="next") while there is one."""
    found = await month.stuck(c.deps, month_id, limit, page)
    if found.next_page:
        url = f"/api/months/{month_id}/stuck?limit={limit}&page={found.next_page}"
        response.headers["Link"] = f'<{url}>; rel="next"'
    return found.bills


@router.get("/months/{month_id}/settlement")
async def settlement(c: AsViewer, month_id: str) -> dict[str, Any]:
    report, spread = await month.settlement_report(c.deps, month_id)
    return report.as_dict() | {"amounts": spread.as_dict() if spread else None}


@router.get("/members/{member_id}", responses=LIMITED)
async def member(
    request: Request,
    c: AsViewer,
    member_id: bodies.PathId,
    reason: Annotated[str | None, Query(max_length=200, description="why, for the audit")] = None,
) -> dict[str, Any]:
    """The member; a viewer sees the name, e-mail and phone masked, an operator's or admin's
    read is audited with its `reason` and rate-limited."""
    found = await members.member(c.deps, member_id)
    full = await personal_data(request, c, member_id, reason)
    return asdict(found if full else members.masked(found))


@router.get("/members/{member_id}/bills")
async def member_bills(
    c: AsViewer,
    member_id: bodies.PathId,
    before: Annotated[
        str | None,
        Query(max_length=7, description="YYYY-MM: the page of the 6 months before it"),
    ] = None,
) -> dict[str, Any]:
    """The member's bills of six months, newest first, with their notifications; `older`
    is the `before` of the next page (null: no older month online)."""
    return asdict(await members.bills(c.deps, member_id, before))


@router.get("/members/{member_id}/plan")
async def member_plan(c: AsViewer, member_id: bodies.PathId, month_id: str) -> dict[str, Any]:
    """When the member's bill of `month_id` is sent, and why then."""
    return await notify.send_plan(c.deps, member_id, month_id)


@router.get("/reservations")
async def reservations(c: AsViewer) -> list[Any]:
    return list(await reserved.reservations(c.deps))


@router.get("/dead-letters")
async def dead_letter_list(
    c: AsViewer,
    include_replayed: bool = False,
    after: Annotated[int, Query(ge=0, le=bodies.INT64_MAX, description="the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Any]:
    """One page in id order; the next starts after the last id of this one."""
    return list(await dead_letters.dead_letters(c.deps, include_replayed, after, limit))


@router.get("/templates")
async def templates(c: AsViewer, channel: str | None = None) -> list[dict[str, Any]]:
    return [
        asdict(t.source) | {"active": t.active, "created_at": t.created_at}
        for t in await tpl.templates(c.deps, channel)
    ]


@router.get("/templates/{channel}/{code}")
async def template(
    c: AsViewer,
    channel: str,
    code: str,
    version: Annotated[int | None, Query(ge=1, le=bodies.INT32_MAX)] = None,
) -> dict[str, Any]:
    return asdict(await tpl.template(c.deps, channel, code, version))


@router.get("/blackouts")
async def blackout_list(c: AsViewer) -> list[dict[str, Any]]:
    return [
        {
            "name": b.name,
            "start": f"{b.start:%H:%M}",
            "end": f"{b.end:%H:%M}",
            "days": b.days_label(),
            "active": b.active,
        }
        for b in await blackouts.blackouts(c.deps)
    ]


@router.get("/audit")
async def audit(c: AsAdmin, limit: int = 100) -> list[Any]:
    return list(await access.audit_log(c.deps, max(1, min(limit, 1000))))
