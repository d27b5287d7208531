"""`telebill db migrate`: bring any database to the latest schema (Alembic, idempotent)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from telebill.db.connect import connect
from telebill.errors import SchemaBehind

if TYPE_CHECKING:
    from telebill.config import Settings
    from telebill.domain.db_roles import DbRole

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(db_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://")).get_current_head()
    assert head is not None
    return head


# Alembic keeps its migration context in module globals: one upgrade at a time per process.
# Across processes, the advisory lock in env.py serialises migrators.
_in_process = threading.Lock()


def upgrade(db_url: str) -> None:
    """Blocking (Alembic runs its own event loop): call from a thread when inside asyncio."""
    with _in_process:
        command.upgrade(alembic_config(db_url), "head")


async def current_revision(conn: asyncpg.Connection) -> str | None:
    """The revision the database is at (None: never migrated)."""
    if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        return None
    revision = await conn.fetchval("SELECT version_num FROM alembic_version")
    return str(revision) if revision is not None else None


async def ensure_schema(db_url: str) -> tuple[str | None, str]:
    """Migrate to the latest revision if behind; return (revision before, revision after)."""

    conn = await connect(db_url)
    try:
        before = await current_revision(conn)
        if before != head_revision():
            await asyncio.to_thread(upgrade, db_url)
        after = await current_revision(conn)
    finally:
        await conn.close()
    assert after is not None
    return before, after


async def ensure_schema_as(settings: Settings, role: DbRole) -> str:
    """Make sure the database is at the latest schema before the process of `role` starts:
    migrated here when the process connects as the owner (one URL for all), else waited for
    (`SchemaBehind`: a process role may not run DDL). Returns the URL to connect with."""

    url = settings.db_url_for(role)
    if url == settings.db_url:
        await ensure_schema(url)
        return url
    conn = await connect(url)
    try:
        at = await current_revision(conn)
    finally:
        await conn.close()
    if at != head_revision():
        raise SchemaBehind(
            f"the database's schema is at {at or 'nothing'}, this code needs {head_revision()}:"
            " waiting for `telebill db migrate` (as the database's owner)"
        )
    return url


async def connect_ready(db_url: str) -> asyncpg.Connection:
    """A connection to a database at the latest schema (migrated first when needed)."""

    await ensure_schema(db_url)
    return await connect(db_url)
