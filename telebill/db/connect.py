"""Connecting to PostgreSQL with a one-line reason when it cannot be reached."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from telebill.config import asyncpg_dsn
from telebill.errors import Unavailable

# A plain connection or one borrowed from a pool: the queries do not care which. (The proxy is
# generic only in the type stubs.)
if TYPE_CHECKING:
    DbConn: TypeAlias = asyncpg.Connection | PoolConnectionProxy[Any]
else:
    DbConn = asyncpg.Connection | PoolConnectionProxy


class DatabaseUnavailable(Unavailable):
    """The database does not answer; the message names where and why, in one line."""


def where(db_url: str) -> str:
    return db_url.split("@")[-1]


async def connect(db_url: str, connect_timeout: float = 10) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(asyncpg_dsn(db_url), timeout=connect_timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(f"database at {where(db_url)} does not answer: {reason}") from exc
