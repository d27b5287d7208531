"""A process's connection pool, as its own database role: the API, the worker and the consumers
each open one at start (here rather than in workers/, so the API needs nothing from there)."""

from __future__ import annotations

import asyncpg

from telebill.config import Settings, asyncpg_dsn
from telebill.domain.db_roles import DbRole


async def create_pool(settings: Settings, role: DbRole, *, read_only: bool = False) -> asyncpg.Pool:
    """The process's pool, as its own database role (telebill/db/roles.py). `read_only`: every
    transaction read-only, for a process that only reads and shares a role that may write."""
    pool = await asyncpg.create_pool(
        asyncpg_dsn(settings.db_url_for(role)),
        min_size=1,
        max_size=settings.db_pool_size,
        server_settings={"default_transaction_read_only": "on"} if read_only else None,
    )
    assert pool is not None
    return pool
