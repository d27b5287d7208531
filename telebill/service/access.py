"""Who may use the admin API (users, roles, tokens) and what they did (the audit log)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telebill.domain.roles import Role
from telebill.errors import TelebillError

if TYPE_CHECKING:
    from telebill.db.api_user_store import ApiUser
    from telebill.db.audit_store import AuditEntry
    from telebill.service.deps import Deps


def checked_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise TelebillError(
            f"unknown role {text!r}; choose from {', '.join(r.value for r in Role)}"
        ) from None


async def add_user(deps: Deps, name: str, role: str) -> str:
    """The new user's token, to hand over once (only its hash is kept)."""
    from telebill.db.api_user_store import add_user as add

    async with deps.db() as conn:
        return await add(conn, name, checked_role(role))


async def users(deps: Deps) -> list[ApiUser]:
    from telebill.db.api_user_store import list_users

    async with deps.db() as conn:
        return await list_users(conn)


async def remove_user(deps: Deps, name: str) -> None:
    from telebill.db.api_user_store import remove_user as remove

    async with deps.db() as conn:
        await remove(conn, name)


async def authenticate(deps: Deps, token: str) -> ApiUser | None:
    from telebill.db.api_user_store import user_by_token

    if not token or len(token) > 200:
        return None
    async with deps.db() as conn:
        return await user_by_token(conn, token)


async def audit(
    deps: Deps, user: ApiUser, action: str, target: dict[str, Any], status: int, result: str
) -> None:
    from telebill.db.audit_store import record

    async with deps.db() as conn:
        await record(conn, user.name, user.role.value, action, target, status, result)


async def audit_log(deps: Deps, limit: int = 100) -> list[AuditEntry]:
    from telebill.db.audit_store import recent

    async with deps.db() as conn:
        return await recent(conn, limit)
