"""What the commands share: their month, member and JSON options, the console and progress bar,
and running one service-layer operation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

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

from telebill.config import get_settings
from telebill.service.bootstrap import cli_deps
from telebill.service.notify import checked_month as checked

if TYPE_CHECKING:
    from telebill.service.deps import Deps

T = TypeVar("T")

console = Console()
Month = Annotated[str, typer.Option("--month", "-m", help="Billing month, YYYY-MM.")]
Members = Annotated[
    list[int] | None, typer.Option("--member", help="Member id (repeatable); default: all.")
]
MemberId = Annotated[int, typer.Option("--member", help="Member id.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def checked_month(month: str) -> str:
    return checked(month)


def call(operation: Callable[[Deps], Coroutine[Any, Any, T]]) -> T:
    """Run one service-layer operation for a command: its database connection and Temporal
    client are opened for it."""
    return asyncio.run(operation(cli_deps(get_settings())))


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
