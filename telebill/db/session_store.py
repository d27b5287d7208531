"""The console's sessions (table `console_session`): opened at sign-in with a random id (only
its SHA-256 is kept) and a CSRF token of their own, ended by sign-out, by the user's removal,
after an idle time and at an absolute end."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from telebill.db.api_user_store import ApiUser
from telebill.db.connect import DbConn
from telebill.domain.roles import Role

TOUCH_EVERY = timedelta(seconds=60)  # a page view writes last_seen_at at most this often


@dataclass(frozen=True)
class Session:
    user: ApiUser
    csrf: str


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def open_session(conn: DbConn, user: str, lasts: timedelta) -> tuple[str, str]:
    """A new session for `user`: its id (the cookie's value, not stored) and CSRF token."""
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_hex(32)
    await conn.execute(
        "INSERT INTO console_session (id_sha256, user_id, csrf, expires_at) "
        "SELECT $1, id, $2, now() + $3::interval FROM api_user WHERE name = $4",
        _key(session_id),
        csrf,
        lasts,
        user,
    )
    return session_id, csrf


async def session(conn: DbConn, session_id: str, idle: timedelta) -> Session | None:
    """The live session with this id, touched; None when unknown, idle too long or over."""
    r = await conn.fetchrow(
        "SELECT u.name, u.role, u.created_at, s.csrf, s.last_seen_at < now() - $3::interval "
        "AS stale FROM console_session s JOIN api_user u ON u.id = s.user_id "
        "WHERE s.id_sha256 = $1 AND s.expires_at > now() AND u.expires_at > now() "
        "AND s.last_seen_at > now() - $2::interval",
        _key(session_id),
        idle,
        TOUCH_EVERY,
    )
    if r is None:
        return None
    if r["stale"]:
        await conn.execute(
            "UPDATE console_session SET last_seen_at = now() WHERE id_sha256 = $1",
            _key(session_id),
        )
    return Session(ApiUser(r["name"], Role(r["role"]), r["created_at"]), r["csrf"])


async def close_session(conn: DbConn, session_id: str) -> None:
    await conn.execute("DELETE FROM console_session WHERE id_sha256 = $1", _key(session_id))


async def forget_ended(conn: DbConn, idle: timedelta) -> int:
    """Remove the sessions that ended (at each sign-in: the table stays small)."""
    done = await conn.execute(
        "DELETE FROM console_session WHERE expires_at <= now() "
        "OR last_seen_at <= now() - $1::interval",
        idle,
    )
    return int(done.split()[-1])


async def close_user_sessions(conn: DbConn, user: str) -> None:
    """End every session of `user` (their token was rotated)."""
    await conn.execute(
        "DELETE FROM console_session WHERE user_id = (SELECT id FROM api_user WHERE name = $1)",
        user,
    )
