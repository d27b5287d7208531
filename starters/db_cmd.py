"""`telebill db …`: the database schema."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from telebill.config import get_settings

app = typer.Typer(help="The PostgreSQL schema (Alembic migrations).", no_args_is_help=True)
console = Console()


async def migrate_database(db_url: str) -> tuple[str | None, str]:
    """Migrate to the latest revision; return (revision before, revision after)."""
    from telebill.db import migrate as migrations  # Alembic is slow to import: only on use
    from telebill.db.connect import connect

    conn = await connect(db_url)
    try:
        before = await migrations.current_revision(conn)
        if before != migrations.head_revision():
            await asyncio.to_thread(migrations.upgrade, db_url)
        after = await migrations.current_revision(conn)
    finally:
        await conn.close()
    assert after is not None
    return before, after


@app.command()
def migrate() -> None:
    """Bring the database to the latest schema (idempotent; safe with several callers at once)."""
    before, after = asyncio.run(migrate_database(get_settings().db_url))
    if before == after:
        console.print(f"schema already at the latest revision ({after})", highlight=False)
    else:
        console.print(f"schema migrated from {before or 'empty'} to {after}", highlight=False)
