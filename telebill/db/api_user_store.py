"""The admin API's users: added with a fresh token (shown once, stored as its SHA-256),
looked up by token, listed and removed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from telebill.db.connect import DbConn
from telebill.domain.roles import Role
from telebill.errors import NotFound, TelebillError


@dataclass(frozen=True)
class ApiUser:
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None = None  # when the token stops working


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(conn: DbConn, name: str, role: Role, days: int = 90) -> str:
    """The new user's token, working for `days` (it is not stored, only its hash)."""
    if not name.strip() or len(name) > 64:
        raise TelebillError("a user name is 1–64 characters")
    token = secrets.token_urlsafe(32)
    try:
        await conn.execute(
            "INSERT INTO api_user (name, role, token_sha256, expires_at) "
            "VALUES ($1, $2, $3, now() + make_interval(days => $4))",
            name.strip(),
            role.value,
            token_hash(token),
            _days(days),
        )
    except asyncpg.UniqueViolationError:
        raise TelebillError(f"a user named {name!r} exists already") from None
    return token


def _days(days: int) -> int:
    if not 1 <= days <= 366:
        raise TelebillError("a token works for 1–366 days")
    return days


async def rotate_token(conn: DbConn, name: str, days: int = 90) -> str:
    """A new token for `name`, working for `days`; the old one stops working at once."""
    token = secrets.token_urlsafe(32)
    done = await conn.execute(
        "UPDATE api_user SET token_sha256 = $2, expires_at = now() + make_interval(days => $3) "
        "WHERE name = $1",
        name,
        token_hash(token),
        _days(days),
    )
    if done == "UPDATE 0":
        raise NotFound(f"no user named {name!r}")
    return token


_COLUMNS = "name, role, created_at, expires_at"


def _user(r: asyncpg.Record) -> ApiUser:
    return ApiUser(r["name"], Role(r["role"]), r["created_at"], r["expires_at"])


async def user_by_token(conn: DbConn, token: str) -> ApiUser | None:
    """The user whose token this is, while it has not expired."""
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM api_user WHERE token_sha256 = $1 AND expires_at > now()",
        token_hash(token),
    )
    return _user(r) if r else None


async def list_users(conn: DbConn) -> list[ApiUser]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_user ORDER BY name")
    return [_user(r) for r in rows]


async def remove_user(conn: DbConn, name: str) -> None:
    if await conn.execute("DELETE FROM api_user WHERE name = $1", name) == "DELETE 0":
        raise NotFound(f"no user named {name!r}")
