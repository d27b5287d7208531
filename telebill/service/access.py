"""Who may use the admin API (users, roles, tokens) and what they did (the audit log)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from telebill.db.api_user_store import add_user as add
from telebill.db.api_user_store import list_users, user_by_token
from telebill.db.api_user_store import remove_user as remove
from telebill.db.api_user_store import rotate_token as rotate
from telebill.db.audit_store import (
    GENESIS,
    export_chain,
    failed_sign_ins,
    recent,
    record,
    verify_rows,
)
from telebill.db.session_store import (
    close_session,
    close_user_sessions,
    forget_ended,
    open_session,
    session,
)
from telebill.domain.roles import Role
from telebill.errors import Busy, TelebillError

if TYPE_CHECKING:
    from telebill.db.api_user_store import ApiUser
    from telebill.db.audit_store import AuditEntry
    from telebill.db.session_store import Session
    from telebill.service.deps import Deps


def checked_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise TelebillError(
            f"unknown role {text!r}; choose from {', '.join(r.value for r in Role)}"
        ) from None


async def add_user(deps: Deps, name: str, role: str, days: int = 90) -> str:
    """The new user's token, to hand over once (only its hash is kept), working `days`."""
    async with deps.db() as conn:
        return await add(conn, name, checked_role(role), days)


async def rotate_token(deps: Deps, name: str, days: int = 90) -> str:
    """A new token for `name` (the old one and every console session of theirs end now)."""
    async with deps.db() as conn, conn.transaction():
        token = await rotate(conn, name, days)
        await close_user_sessions(conn, name)
        return token


async def users(deps: Deps) -> list[ApiUser]:
    async with deps.db() as conn:
        return await list_users(conn)


async def remove_user(deps: Deps, name: str) -> None:
    async with deps.db() as conn:
        await remove(conn, name)


async def authenticate(deps: Deps, token: str) -> ApiUser | None:
    if not _usable(token):
        return None
    async with deps.db() as conn:
        return await user_by_token(conn, token)


MAX_SECRET_CHARS = 200  # a token or a session id longer than this is no one's


def _usable(secret: str) -> bool:
    return 0 < len(secret) <= MAX_SECRET_CHARS


async def audit(
    deps: Deps, user: ApiUser, action: str, target: dict[str, Any], status: int, result: str
) -> None:
    async with deps.db() as conn:
        await record(conn, user.name, user.role.value, action, target, status, result)


async def audit_log(deps: Deps, limit: int = 100) -> list[AuditEntry]:
    async with deps.db() as conn:
        return await recent(conn, limit)


@dataclass(frozen=True)
class SignedIn:
    session_id: str  # the cookie's value, given once
    user: ApiUser


class TooManyAttempts(Busy):
    """Sign-in refused for a while after too many wrong tokens from one address (API: 429)."""


async def sign_in(deps: Deps, token: str, address: str) -> SignedIn | None:
    """A console session for the token's user, or None for a wrong token; every attempt is
    audited, and after CONSOLE_SIGN_IN_FAILURES wrong ones from an address within
    CONSOLE_SIGN_IN_WINDOW_S the next are refused until the window has passed."""
    s = deps.settings
    window = timedelta(seconds=s.console_sign_in_window_s)
    async with deps.db() as conn:
        if await failed_sign_ins(conn, address, window) >= s.console_sign_in_failures:
            await record(conn, "-", "-", "sign-in", {"address": address}, 429, "throttled")
            raise TooManyAttempts(
                f"too many wrong tokens from {address}; try again in "
                f"{s.console_sign_in_window_s // 60:g} minutes"
            )
        user = await user_by_token(conn, token) if _usable(token) else None
        if user is None:
            await record(conn, "-", "-", "sign-in", {"address": address}, 401, "unknown token")
            return None
        await forget_ended(conn, timedelta(seconds=s.console_session_idle_s))
        session_id, _ = await open_session(
            conn, user.name, timedelta(seconds=s.console_session_max_s)
        )
        await record(conn, user.name, user.role.value, "sign-in", {"address": address}, 200, "ok")
    return SignedIn(session_id, user)


async def console_session(deps: Deps, session_id: str) -> Session | None:
    """The live session behind a console cookie (touched), or None."""
    if not _usable(session_id):
        return None
    async with deps.db() as conn:
        return await session(
            conn, session_id, timedelta(seconds=deps.settings.console_session_idle_s)
        )


async def sign_out(deps: Deps, session_id: str, user: ApiUser, address: str) -> None:
    async with deps.db() as conn:
        await close_session(conn, session_id)
        await record(conn, user.name, user.role.value, "sign-out", {"address": address}, 200, "ok")


@dataclass(frozen=True)
class AuditCheck:
    rows: int
    broken_at: int | None  # the first row whose link does not hold: edited, or one before it gone


async def audit_export(deps: Deps) -> AsyncIterator[dict[str, Any]]:
    """Every chained row of the audit log, a page at a time, as kept."""
    after = 0
    async with deps.db() as conn:
        while page := await export_chain(conn, after):
            for row in page:
                yield row
            after = int(page[-1]["id"])


async def audit_verify(deps: Deps) -> AuditCheck:
    """Walk the whole chain; where it breaks, someone changed or removed a row."""
    previous, count, page = GENESIS, 0, []
    async for row in audit_export(deps):
        page.append(row)
        if len(page) == 5_000:
            previous, broken = verify_rows(page, previous)
            if broken is not None:
                return AuditCheck(count, broken)
            count, page = count + len(page), []
    previous, broken = verify_rows(page, previous)
    return AuditCheck(count + len(page) if broken is None else count, broken)
