"""What the commands share: their month, member and JSON options, the console and progress bar,
a database connection at the latest schema, and a Temporal client that fails in one line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from starters.errors import UserError
from telebill.config import Settings, get_settings
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

T = TypeVar("T")

console = Console()
Month = Annotated[str, typer.Option("--month", "-m", help="Billing month, YYYY-MM.")]
Members = Annotated[
    list[int] | None, typer.Option("--member", help="Member id (repeatable); default: all.")
]
MemberId = Annotated[int, typer.Option("--member", help="Member id.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def checked_month(month: str) -> str:
    try:
        return f"{parse_month(month):%Y-%m}"
    except ValueError as exc:
        raise UserError(str(exc)) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


async def using_db(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` on a connection to a database at the latest schema (migrated first if behind)."""
    from telebill.db.migrate import connect_ready

    conn = await connect_ready(get_settings().db_url)
    try:
        return await work(conn)
    finally:
        await conn.close()


def with_db(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """`using_db` for a command's synchronous body."""
    return asyncio.run(using_db(work))


async def temporal_client(settings: Settings) -> Client:
    from temporalio.client import Client

    try:
        return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)
    except RuntimeError as exc:
        raise UserError(f"Temporal at {settings.temporal_target} does not answer: {exc}") from None
