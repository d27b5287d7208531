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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(conn: DbConn, name: str, role: Role) -> str:
    """The new user's token (it is not stored, only its hash)."""
    if not name.strip() or len(name) > 64:
        raise TelebillError("a user name is 1–64 characters")
    token = secrets.token_urlsafe(32)
    try:
        await conn.execute(
            "INSERT INTO api_user (name, role, token_sha256) VALUES ($1, $2, $3)",
            name.strip(),
            role.value,
            token_hash(token),
        )
    except asyncpg.UniqueViolationError:
        raise TelebillError(f"a user named {name!r} exists already") from None
    return token


async def user_by_token(conn: DbConn, token: str) -> ApiUser | None:
    r = await conn.fetchrow(
        "SELECT name, role, created_at FROM api_user WHERE token_sha256 = $1", token_hash(token)
    )
    return ApiUser(r["name"], Role(r["role"]), r["created_at"]) if r else None


async def list_users(conn: DbConn) -> list[ApiUser]:
    rows = await conn.fetch("SELECT name, role, created_at FROM api_user ORDER BY name")
    return [ApiUser(r["name"], Role(r["role"]), r["created_at"]) for r in rows]


async def remove_user(conn: DbConn, name: str) -> None:
    if await conn.execute("DELETE FROM api_user WHERE name = $1", name) == "DELETE 0":
        raise NotFound(f"no user named {name!r}")
