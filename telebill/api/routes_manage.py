"""What only an admin may do: templates, blackout windows, member preferences and limits, the
settlement and the re-planning of a month. Every call is audited."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request

from telebill.api import bodies
from telebill.api.security import LIMITED, REFUSALS, AsAdmin, AsViewer, CallerFirst, audited
from telebill.service import blackouts, members, month, notify
from telebill.service import templates as tpl

router = APIRouter(prefix="/api", tags=["manage"], responses=REFUSALS, route_class=CallerFirst)


@router.post("/templates/{channel}/{code}", status_code=201, responses=LIMITED)
async def template_add(
    request: Request, c: AsAdmin, channel: str, code: str, body: bodies.TemplateVersion
) -> dict[str, Any]:
    """A new version, refused with its line and reason when it does not render."""
    target = {"channel": channel, "code": code, "activate": body.activate}
    version = await audited(
        request,
        c,
        target,
        tpl.add(c.deps, channel, body.body, code, body.subject, body.activate),
        lambda v: f"version {v}",
    )
    return {"channel": channel, "code": code, "version": version}


@router.post("/templates/{channel}/{code}/activate")
async def template_activate(
    request: Request, c: AsAdmin, channel: str, code: str, body: bodies.Activate
) -> dict[str, Any]:
    target = {"channel": channel, "code": code, "version": body.version}
    await audited(request, c, target, tpl.activate(c.deps, channel, body.version, code))
    return target | {"active": True}


@router.post("/templates/{channel}/{code}/preview", responses=LIMITED)
async def template_preview(
    c: AsViewer, channel: str, code: str, body: bodies.Preview
) -> dict[str, Any]:
    """A stored version or a draft, rendered for a bill (default: a sample bill). Changes
    nothing, so a viewer may use it."""
    draft = tpl.Draft(body.subject, body.body) if body.body is not None else None
    m = await tpl.preview(c.deps, channel, body.bill_id, code, body.version, draft)
    return asdict(m)


@router.post("/blackouts", status_code=201)
async def blackout_add(request: Request, c: AsAdmin, body: bodies.BlackoutWindow) -> dict[str, Any]:
    target = body.model_dump()
    await audited(
        request, c, target, blackouts.add(c.deps, body.name, body.start, body.end, body.days)
    )
    return target


@router.delete("/blackouts/{name}")
async def blackout_remove(request: Request, c: AsAdmin, name: str) -> dict[str, Any]:
    await audited(request, c, {"name": name}, blackouts.remove(c.deps, name))
    return {"name": name, "removed": True}


@router.patch("/members/{member_id}")
async def member_update(
    request: Request, c: AsAdmin, member_id: bodies.PathId, body: bodies.Preferences
) -> dict[str, Any]:
    """Change preferences; the member's waiting notifications re-plan at once."""
    target = {"member": member_id} | body.model_dump(exclude_defaults=True)
    saved = await audited(
        request,
        c,
        target,
        members.update_preferences(
            c.deps,
            member_id,
            body.preferred_day,
            body.quiet,
            body.no_quiet,
            body.timezone,
            body.channel,
        ),
        lambda s: f"{s.replanned} waiting notification(s) re-planned",
    )
    return asdict(saved.member) | {"replanned": saved.replanned}


@router.put("/members/{member_id}/micro-limit")
async def member_micro_limit(
    request: Request, c: AsAdmin, member_id: bodies.PathId, body: bodies.MicroLimit
) -> dict[str, Any]:
    target = {"member": member_id, "krw": body.krw}
    m = await audited(request, c, target, members.set_limit(c.deps, member_id, body.krw))
    return asdict(m)


@router.post("/months/{month_id}/settlement", status_code=202)
async def settle(
    request: Request, c: AsAdmin, month_id: str, body: bodies.Settle
) -> dict[str, Any]:
    """Start (or join) the month's settlement; follow it with GET …/settlement."""
    target = {"month": month_id} | body.model_dump(exclude_defaults=True)
    started = await audited(
        request,
        c,
        target,
        month.start_settlement(
            c.deps, month_id, body.shard_size, body.chunk_size, body.parallel, body.notify
        ),
        lambda s: f"workflow {s.workflow_id}",
    )
    return asdict(started)


@router.post("/months/{month_id}/replan")
async def replan(request: Request, c: AsAdmin, month_id: str) -> dict[str, Any]:
    """Every waiting notification of the month plans again now (after the windows changed)."""
    done = await audited(
        request,
        c,
        {"month": month_id},
        notify.replan(c.deps, month_id),
        lambda r: f"{r.told} re-planned, dispatch {r.dispatch.workflow_id}",
    )
    return {
        "month": month_id,
        "replanned": done.told,
        "dispatch_workflow_id": done.dispatch.workflow_id,
    }
