"""Who is calling and what they may do: a bearer token (scripts) or the console's session cookie
(then a CSRF token on every change), roles, the send rate limit, and the audit of each change."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi.routing import APIRoute
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel

from telebill.db.api_user_store import ApiUser
from telebill.domain.roles import Role
from telebill.errors import Busy, NotFound, TelebillError, Unavailable
from telebill.service import access
from telebill.service.deps import Deps

T = TypeVar("T")
SESSION_COOKIE = "telebill_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def status_of(exc: TelebillError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Unavailable):
        return 503
    if isinstance(exc, Busy):
        return 429
    return 400


class Refusal(BaseModel):
    """Why a request was not done."""

    detail: str


def _refusal(why: str) -> dict[str, Any]:
    return {"model": Refusal, "description": why}


# What any /api route may answer besides its own result and FastAPI's 422, declared in the
# OpenAPI schema so that a client (and the fuzzing in tests/integration/test_api_fuzz.py) can
# tell a documented refusal from a bug.
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: _refusal("the service refused the request (a month out of range, a bad template, …)"),
    401: _refusal("no credentials, or unknown or expired ones"),
    403: _refusal("the caller's role may not do this, or a session without its CSRF token"),
    404: _refusal("no such member, bill, template, reservation or window"),
    413: _refusal("the request body is over TELEBILL_API_MAX_BODY_BYTES"),
    503: _refusal("PostgreSQL or Temporal does not answer; trying again later will work"),
}
# Routes that are rate-limited per user or render templates (the renderers may all be busy).
LIMITED: dict[int | str, dict[str, Any]] = {
    429: _refusal("too many of these by this user (see Retry-After), or every renderer busy")
}


@dataclass(frozen=True)
class Caller:
    user: ApiUser
    deps: Deps


def client_address(request: Request) -> str:
    """Who is asking: the peer, or the trusted proxy's X-Forwarded-For (uvicorn's settings)."""
    return request.client.host if request.client else "-"


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


async def caller(request: Request) -> Caller:
    """The authenticated user, or 401. A cookie session must carry its CSRF token on changes."""
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    deps = deps_of(request)
    header = request.headers.get("authorization", "")
    user: ApiUser | None = None
    if header.lower().startswith("bearer "):
        user = await access.authenticate(deps, header[7:].strip())
    elif cookie := request.cookies.get(SESSION_COOKIE, ""):
        # a console session, kept on the server: its own CSRF token on every change
        live = await access.console_session(deps, cookie)
        if live is not None:
            user = live.user
            request.state.csrf = live.csrf
            if request.method in UNSAFE:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent, live.csrf):
                    raise HTTPException(403, "missing or wrong CSRF token")
    if user is None:
        raise HTTPException(
            401, "sign in: a bearer token or the console's session", {"WWW-Authenticate": "Bearer"}
        )
    found = Caller(user, deps)
    request.state.caller = found  # the route's checks and its audit ask again: one lookup
    return found


def action_of(request: Request) -> str:
    """What a change is called in the audit log: its route's name (send_now → send-now)."""
    return str(getattr(request.scope.get("route"), "name", "unknown")).replace("_", "-")


async def allowed(request: Request, needed: Role) -> Caller:
    """The caller, if their role allows `needed`; a refused change is audited too."""
    c = await caller(request)
    if not c.user.role.allows(needed):
        message = f"{c.user.role.value} may not do this (needs {needed.value})"
        if request.method in UNSAFE:
            target = {"path": request.url.path}
            await access.audit(c.deps, c.user, action_of(request), target, 403, message)
        raise HTTPException(403, message)
    return c


async def _viewer(request: Request) -> Caller:
    return await allowed(request, Role.VIEWER)


async def _operator(request: Request) -> Caller:
    return await allowed(request, Role.OPERATOR)


async def _admin(request: Request) -> Caller:
    return await allowed(request, Role.ADMIN)


# A route's caller, checked before its parameters are (no sign-in: 401, not 422).
AsViewer = Annotated[Caller, Depends(_viewer)]
AsOperator = Annotated[Caller, Depends(_operator)]
AsAdmin = Annotated[Caller, Depends(_admin)]
# Which role a route needs, read from the dependency it declares (one place to say it).
_NEEDED = {_viewer: Role.VIEWER, _operator: Role.OPERATOR, _admin: Role.ADMIN}


class CallerFirst(APIRoute):
    """A route that checks its caller before it reads the body. FastAPI parses a JSON body
    before it runs any dependency, so otherwise a malformed body is answered 422 to anyone,
    signed in or not, where the role that may not call the route must get its 401/403."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needed = [_NEEDED[d.call] for d in self.dependant.dependencies if d.call in _NEEDED]
        if not needed:
            return handler

        async def checked(request: Request) -> Response:
            await allowed(request, needed[0])  # cached: the route's own dependency asks again
            return await handler(request)

        return checked


class SendLimiter:
    """At most `rate` calls of one kind (the sending endpoints, reads of personal data) per
    user (a moving window, in memory: one API process serves an installation)."""

    def __init__(self, rate: str, what: str = "sends") -> None:
        self._item = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.rate, self.what = rate, what

    def check(self, user: ApiUser) -> None:
        if not self._limiter.hit(self._item, self.what, user.name):
            raise HTTPException(
                429, f"too many {self.what}: at most {self.rate} per user", {"Retry-After": "60"}
            )


async def personal_data(request: Request, c: Caller, member_id: int, reason: str | None) -> bool:
    """May this caller see member `member_id`'s contact data in full? A viewer never (they see
    it masked); an operator or admin yes, within their rate, and each such read is audited
    (who, whose, when, why)."""
    if not c.user.role.allows(Role.OPERATOR):
        return False
    limiter: SendLimiter = request.app.state.read_limiter
    target = {"member_id": member_id, "reason": (reason or "")[:200]}
    try:
        limiter.check(c.user)
    except HTTPException as exc:
        await access.audit(c.deps, c.user, "member-read", target, 429, str(exc.detail))
        raise
    await access.audit(c.deps, c.user, "member-read", target, 200, "contact data shown")
    return True


async def audited(
    request: Request,
    c: Caller,
    target: dict[str, Any],
    work: Awaitable[T],
    describe: Callable[[T], str] = lambda _: "ok",
) -> T:
    """Run a change and record it with how it ended (the service's message when refused)."""
    action = action_of(request)
    try:
        result = await work
    except TelebillError as exc:
        await access.audit(c.deps, c.user, action, target, status_of(exc), str(exc))
        raise
    except Exception as exc:
        await access.audit(c.deps, c.user, action, target, 500, type(exc).__name__)
        raise
    await access.audit(c.deps, c.user, action, target, 200, describe(result))
    return result


async def sending(
    request: Request,
    c: Caller,
    target: dict[str, Any],
    work: Awaitable[T],
    describe: Callable[[T], str] = lambda _: "ok",
) -> T:
    """A change that sends bills: rate-limited per user, then audited like any other."""
    limiter: SendLimiter = request.app.state.limiter
    try:
        limiter.check(c.user)
    except HTTPException as exc:
        if hasattr(work, "close"):
            work.close()  # the coroutine never runs: close it so Python does not warn
        action = action_of(request)
        await access.audit(c.deps, c.user, action, target, exc.status_code, str(exc.detail))
        raise
    return await audited(request, c, target, work, describe)
