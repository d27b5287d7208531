"""`telebill db …`: the database schema."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.logging import RichHandler

from telebill.config import get_settings

if TYPE_CHECKING:
    pass

app = typer.Typer(help="The PostgreSQL schema (Alembic migrations).", no_args_is_help=True)
console = Console()


@app.command()
def migrate() -> None:
    """Bring the database to the latest schema (idempotent; safe with several callers at once)."""
    # lazy: Alembic and SQLAlchemy, ~0.4 s of a command's start
    from telebill.db.migrate import ensure_schema

    # a migration that rebuilds tables says how long each took (0017: per million rows)
    said = logging.getLogger("telebill.migrations")
    said.setLevel(logging.INFO)
    said.addHandler(RichHandler(console=console, show_time=False, show_path=False))
    before, after = asyncio.run(ensure_schema(get_settings().db_url))
    if before == after:
        console.print(f"schema already at the latest revision ({after})", highlight=False)
    else:
        console.print(f"schema migrated from {before or 'empty'} to {after}", highlight=False)
