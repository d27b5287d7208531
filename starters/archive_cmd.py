"""`telebill archive …`: months written to Parquet and dropped from the database, and back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from starters.common import call, console
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    from telebill.service.archive import MonthArchived

archive = typer.Typer(
    help="Archive settled and delivered months: each month's rows to Parquet files (zstd) with "
    "their SHA-256 and a manifest under TELEBILL_ARCHIVE_DIR (default: archive/YYYY-MM in the "
    "stack's folder), read back and checked, then the month's partitions dropped. `restore` "
    "brings one back.",
    invoke_without_command=True,
)


def _month(text: str, option: str) -> str:
    try:
        return f"{parse_month(text):%Y-%m}"
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@archive.callback()
def archive_before(
    ctx: typer.Context,
    before: Annotated[
        str | None,
        typer.Option("--before", help="Archive every month online before this one, YYYY-MM."),
    ] = None,
) -> None:
    """Archive every month before --before (oldest first), or run a subcommand."""
    if ctx.invoked_subcommand is not None:
        return
    if before is None:
        console.print(ctx.get_help())
        raise typer.Exit(2)
    month = parse_month(_month(before, "--before"))
    # lazy: pyarrow, ~0.3 s of every command's start otherwise
    from telebill.service import archive as service

    def said(done: MonthArchived) -> None:
        rows = sum(done.rows.values())
        console.print(
            f"{done.month}: {rows:,} rows, {done.bytes / 2**20:,.1f} MiB in {done.seconds:.1f} s"
            f" → {done.location} (partitions dropped)",
            highlight=False,
        )

    done = call(lambda deps: service.archive_command(deps, month, said))
    if not done:
        console.print(f"no month online before {month:%Y-%m}", highlight=False)


@archive.command()
def restore(
    month: Annotated[str, typer.Option("--month", "-m", help="The archived month, YYYY-MM.")],
) -> None:
    """Bring an archived month back into the database, checked against its manifest."""
    chosen = parse_month(_month(month, "--month"))
    from telebill.service import archive as service  # lazy: pyarrow

    counts = call(lambda deps: service.restore_command(deps, chosen))
    shown = ", ".join(f"{t} {n:,}" for t, n in counts.items())
    console.print(f"{chosen:%Y-%m} restored: {shown}", highlight=False)


@archive.command("list")
def list_() -> None:
    """The months online and the months archived (where, how big, dropped, restored)."""
    from telebill.service import archive as service  # lazy: pyarrow

    online, archived = call(service.list_command)
    console.print("online: " + (", ".join(f"{m:%Y-%m}" for m in online) or "none"), highlight=False)
    table = Table("month", "rows", "MiB", "archived", "dropped", "restored", "where")
    for a in archived:
        table.add_row(
            f"{a.billing_month:%Y-%m}",
            f"{sum(a.rows.values()):,}",
            f"{a.bytes / 2**20:,.1f}",
            f"{a.archived_at:%Y-%m-%d %H:%M}",
            f"{a.dropped_at:%Y-%m-%d %H:%M}" if a.dropped_at else "",
            f"{a.restored_at:%Y-%m-%d %H:%M}" if a.restored_at else "",
            a.location,
        )
    console.print(table)
