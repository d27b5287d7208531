"""`telebill blackout …`: system-wide windows in which nothing is sent."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from starters.common import call
from telebill.config import get_settings
from telebill.service import blackouts as service

app = typer.Typer(
    help="System blackout windows (시스템 금지 시간대), in the system time zone "
    "(TELEBILL_SYSTEM_TIME_ZONE, default Asia/Seoul). Windows are [from, to) and may wrap "
    "midnight.",
    no_args_is_help=True,
)
console = Console()


@app.command("list")
def list_() -> None:
    """Every window: name, hours, days."""
    zone = get_settings().system_time_zone
    table = Table("name", "from", "to", "days", "active", title=f"Blackout windows ({zone})")
    for b in call(service.blackouts):
        table.add_row(
            b.name,
            f"{b.start:%H:%M}",
            f"{b.end:%H:%M}",
            b.days_label(),
            "yes" if b.active else "no",
        )
    console.print(table)


@app.command()
def add(
    name: Annotated[str, typer.Option(help="A name to refer to it, e.g. night or maintenance.")],
    start: Annotated[str, typer.Option("--from", help="Start, HH:MM (included).")],
    end: Annotated[
        str, typer.Option("--to", help="End, HH:MM (excluded); before --from wraps midnight.")
    ],
    days: Annotated[
        str | None, typer.Option(help="Only on these days, e.g. sat,sun (default every day).")
    ] = None,
) -> None:
    """Add a window; refused if, with the others, it would leave a day with no time to send."""
    zone = get_settings().system_time_zone
    call(lambda deps: service.add(deps, name, start, end, days))
    console.print(f"blackout {name!r} {start}–{end} {zone} added", highlight=False)


@app.command()
def remove(name: Annotated[str, typer.Option(help="The window's name.")]) -> None:
    """Delete a window."""
    call(lambda deps: service.remove(deps, name))
    console.print(f"blackout {name!r} removed", highlight=False)
