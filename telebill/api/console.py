"""The web console: server-rendered pages over the service layer, signed in with an API token
(kept in an HttpOnly, SameSite=Strict cookie); its buttons call the JSON API with the session's
CSRF token. Nothing is loaded from another site."""

from __future__ import annotations

import secrets
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from telebill.api import bodies
from telebill.api.bodies import INT64_MAX
from telebill.api.preview_frames import FRAME_POLICY, FRAMES
from telebill.api.security import (
    SESSION_COOKIE,
    Caller,
    allowed,
    client_address,
    deps_of,
    personal_data,
)
from telebill.channels import channels
from telebill.config import get_settings
from telebill.domain.roles import Role
from telebill.domain.statuses import NotifyStatus, delivered_status
from telebill.errors import TelebillError
from telebill.service import access, blackouts, dead_letters, members, month
from telebill.service import reservations as reserved
from telebill.service import templates as tpl

HERE = Path(__file__).parent
# Every value escaped, whatever the file's name (Starlette's default escapes only .html, .htm
# and .xml, and the pages are .html.j2): a member's name or a dead letter's reason is text.
pages = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "pages"), autoescape=True))


def when(at: datetime | None) -> str:
    """An instant as operators read it: in the system time zone, to the minute."""
    if at is None:
        return ""
    return f"{at.astimezone(ZoneInfo(get_settings().system_time_zone)):%Y-%m-%d %H:%M %Z}"


pages.env.filters["when"] = when
router = APIRouter(prefix="/console", include_in_schema=False)
CONSOLE_PAGE = 100  # rows of a list page


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


class SignIn(Exception):
    """A console page asked for without a session: the app answers with the login page."""


async def _signed_in(request: Request) -> Caller:
    try:
        return await allowed(request, Role.VIEWER)
    except HTTPException:
        raise SignIn from None


SignedIn = Annotated[Caller, Depends(_signed_in)]


def _page(request: Request, c: Caller, name: str, **context: Any) -> HTMLResponse:
    return pages.TemplateResponse(
        request,
        name,
        {
            "user": c.user,
            "csrf": getattr(request.state, "csrf", ""),
            # The console's script acts only on forms that carry this page's nonce: a form that
            # came in with the content (were anything to slip past the escaping) is inert.
            "nonce": secrets.token_urlsafe(16),
            "can_send": c.user.role.allows(Role.OPERATOR),
            "can_manage": c.user.role.allows(Role.ADMIN),
            **context,
        },
    )


# The funnel's row of a channel besides e-mail and SMS (which have rows of their own).
DELIVERED_BY = {
    "alimtalk": "알림톡 전달 Delivered by AlimTalk",
    "push": "앱 푸시 전달 Delivered by push",
}


def funnel_rows(view: month.MonthView) -> list[tuple[str, int | None, str | None]]:
    """The month page's funnel: label, PostgreSQL's count, the NotifyStatus Temporal counts;
    a row for each channel of the registry."""
    d = view.db
    others = [n for n in channels() if n not in ("email", "sms")]
    return [
        ("청구서 Bills settled", d.bills, None),
        ("예약 전 Not scheduled yet", d.not_scheduled, None),
        ("예약됨 Scheduled", d.scheduled, NotifyStatus.SCHEDULED),
        ("└ 그중 발송일 가까이 시작 of which started near their day", d.workflow_later, None),
        ("발행됨 Published (in flight)", d.published, NotifyStatus.PUBLISHED),
        ("이메일 전달 Delivered by e-mail", d.delivered_email, delivered_status("email")),
        ("SMS 전달 Delivered by SMS", d.delivered_sms, delivered_status("sms")),
        *(
            (
                DELIVERED_BY.get(n, f"Delivered by {n}"),
                d.delivered_by.get(n, 0),
                delivered_status(n),
            )
            for n in others
        ),
        ("실패 Dead letters", d.dead_letter, NotifyStatus.DEAD_LETTER),
        ("발송 불가 No time to send", d.no_time_to_send, NotifyStatus.NO_SEND_WINDOW),
        ("지연 STUCK", None, NotifyStatus.STUCK),
    ]


def to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, error: str | None = None) -> HTMLResponse:
    return pages.TemplateResponse(request, "login.html.j2", {"error": error})


@router.post("/login")
async def login(request: Request, token: str = Form(max_length=200)) -> Response:
    """A session of its own (the cookie holds its random id, never the token), with a CSRF
    token of its own; every attempt audited, too many wrong ones from an address throttled."""
    try:
        signed = await access.sign_in(deps_of(request), token.strip(), client_address(request))
    except access.TooManyAttempts as exc:
        return pages.TemplateResponse(
            request, "login.html.j2", {"error": str(exc)}, status_code=429
        )
    if signed is None:
        return pages.TemplateResponse(
            request, "login.html.j2", {"error": "unknown token"}, status_code=401
        )
    s = deps_of(request).settings
    done = RedirectResponse("/console", status_code=303)
    done.set_cookie(
        SESSION_COOKIE,
        signed.session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=s.console_session_max_s,
    )
    return done


@router.post("/logout")
async def logout(request: Request) -> Response:
    c = await allowed(request, Role.VIEWER)  # with its CSRF token: no one else signs you out
    await access.sign_out(
        c.deps, request.cookies.get(SESSION_COOKIE, ""), c.user, client_address(request)
    )
    done = to_login()
    done.delete_cookie(SESSION_COOKIE)
    return done


@router.get("", response_class=HTMLResponse)
async def month_page(request: Request, c: SignedIn, month_id: str | None = None) -> Response:
    shown = month_id or await month.latest_month(c.deps)
    try:
        view = await month.status(c.deps, shown)
        problem = None
    except TelebillError as exc:
        view, problem = None, str(exc)
    rows = funnel_rows(view) if view is not None else []
    return _page(request, c, "month.html.j2", month=shown, view=view, problem=problem, funnel=rows)


@router.get("/stuck", response_class=HTMLResponse)
async def stuck_page(
    request: Request,
    c: SignedIn,
    month_id: str,
    page: Annotated[str | None, Query(max_length=2_000)] = None,
) -> Response:
    rows, problem, following = [], None, None
    try:
        found = await month.stuck(c.deps, month_id, CONSOLE_PAGE, page)
        rows, following = found.bills, found.next_page
    except TelebillError as exc:
        problem = str(exc)
    return _page(
        request,
        c,
        "stuck.html.j2",
        month=month_id,
        rows=rows,
        problem=problem,
        next_page=following,
    )


@router.get("/bills", response_class=HTMLResponse)
async def bills_page(
    request: Request,
    c: SignedIn,
    member: Annotated[int, Query(ge=1, le=INT64_MAX)] | None = None,
    before: Annotated[str | None, Query(max_length=7)] = None,
) -> Response:
    found, page, problem = None, None, None
    if member is not None:
        try:
            found = await members.member(c.deps, member)
            page = await members.bills(c.deps, member, before)
        except TelebillError as exc:
            problem = str(exc)
        if found is not None and not await personal_data(request, c, member, "console"):
            found = members.masked(found)
    return _page(
        request, c, "bills.html.j2", member_id=member, member=found, page=page, problem=problem
    )


@router.get("/templates", response_class=HTMLResponse)
async def templates_page(request: Request, c: SignedIn) -> Response:
    return _page(request, c, "templates.html.j2", rows=await tpl.templates(c.deps))


@router.get("/templates/{channel}/{code}", response_class=HTMLResponse)
async def template_page(request: Request, c: SignedIn, channel: str, code: str) -> Response:
    versions = [t for t in await tpl.templates(c.deps, channel) if t.source.code == code]
    if not versions:
        raise HTTPException(404, f"no {channel} template {code!r}")
    active = next((t for t in versions if t.active), versions[-1])
    return _page(
        request,
        c,
        "template_edit.html.j2",
        channel=channel,
        code=code,
        versions=versions,
        active=active.source,
    )


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters_page(
    request: Request, c: SignedIn, after: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0
) -> Response:
    rows = await dead_letters.dead_letters(c.deps, True, after, CONSOLE_PAGE)
    more = len(rows) == CONSOLE_PAGE
    return _page(
        request, c, "dead_letters.html.j2", rows=rows, next_after=rows[-1].id if more else None
    )


@router.get("/reservations", response_class=HTMLResponse)
async def reservations_page(request: Request, c: SignedIn) -> Response:
    rows = await reserved.reservations(c.deps)
    return _page(request, c, "reservations.html.j2", rows=rows)


@router.get("/blackouts", response_class=HTMLResponse)
async def blackouts_page(request: Request, c: SignedIn) -> Response:
    rows = await blackouts.blackouts(c.deps)
    return _page(request, c, "blackouts.html.j2", rows=rows, zone=c.deps.settings.system_time_zone)


@router.post("/templates/{channel}/{code}/preview")
async def template_preview(
    request: Request, channel: str, code: str, body: bodies.Preview
) -> dict[str, Any]:
    """The API's preview, and for HTML a frame to load it from (see preview_frames)."""
    c = await allowed(request, Role.VIEWER)
    draft = tpl.Draft(body.subject, body.body) if body.body is not None else None
    m = await tpl.preview(c.deps, channel, body.bill_id, code, body.version, draft)
    frame = None
    if m.kind == "EMAIL":
        frame = f"/console/preview-frame/{FRAMES.put(m.body, c.user.name)}"
    return asdict(m) | {"frame": frame}


@router.get("/preview-frame/{key}", response_class=HTMLResponse)
async def preview_frame(c: SignedIn, key: str) -> Response:
    html = FRAMES.get(key, c.user.name)
    if html is None:
        raise HTTPException(404, "this preview has expired; edit the text to see it again")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": FRAME_POLICY,
            "X-Frame-Options": "SAMEORIGIN",  # the one page the console frames
            "Cache-Control": "no-store",
        },
    )
