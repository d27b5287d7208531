"""`telebill stack …`: the local PostgreSQL, Kafka and Temporal."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from starters.errors import fail
from telebill.config import get_settings
from telebill.stack import SERVICE_NAMES

if TYPE_CHECKING:  # the service modules pull in Temporal and Kafka clients: load them on use
    from telebill.stack.manager import Outcome, Stack

app = typer.Typer(
    help=(
        "Run the local stack: PostgreSQL, Apache Kafka (KRaft) and the Temporal dev server, on "
        "127.0.0.1, with all data under TELEBILL_STACK_DIR (default .stack/ in the checkout). "
        "A service whose address is set in DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS or "
        "TEMPORAL_ADDRESS is used as it is instead of being started."
    ),
    no_args_is_help=True,
)
console = Console()

Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help=f"Act on this service only (repeatable): {', '.join(SERVICE_NAMES)}.",
        show_default=False,
    ),
]


def _stack(only: list[str] | None) -> Stack:
    # lazy: the stack manager imports temporalio, ~0.8 s of a command's start
    from telebill.stack.manager import Stack

    return Stack(get_settings(), only or ())


def _print(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        mark = "[green]ok[/]" if o.ok else "[red]failed[/]"
        console.print(f"{o.service:<9} {mark}  {o.message}", highlight=False, soft_wrap=True)


@app.command()
def up(only: Only = None) -> None:
    """Start the services (idempotent: running ones are reused) and wait until each answers."""
    stack = _stack(only)
    with console.status("starting PostgreSQL, Kafka and Temporal…"):
        outcomes = asyncio.run(stack.up())
    _print(outcomes)
    failed = [o for o in outcomes if not o.ok]
    if failed:
        fail("; ".join(f"{o.service}: {o.message}" for o in failed))
    settings = get_settings()
    if settings.temporal_ui_url and any(s.name == "temporal" for s in stack.services):
        console.print(f"Temporal UI: {settings.temporal_ui_url}", highlight=False)


@app.command()
def down(
    only: Only = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete the services' data (keeps the jar cache).")
    ] = False,
) -> None:
    """Stop the services this stack started (by their recorded process ids); data is kept."""
    _print(_stack(only).down(purge))


@app.command()
def status(
    only: Only = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show each service: running or not, its address, its data folder and the disk it
    takes."""
    statuses = asyncio.run(_stack(only).status())
    if as_json:
        print(json.dumps({s.name: s.as_dict() for s in statuses}, indent=2))
        return
    table = Table("service", "state", "address", "pid", "data folder", "disk")
    for s in statuses:
        state = "[green]running[/]" if s.running else "[red]stopped[/]"
        folder = " — ".join(x for x in (s.data_dir, s.detail) if x)
        disk = f"{s.disk_bytes / 2**20:,.0f} MiB" if s.disk_bytes is not None else "-"
        table.add_row(s.name, state, s.address, str(s.pid or "-"), folder, disk)
    console.print(table)
    if not all(s.running for s in statuses):
        raise typer.Exit(3)


@app.command()
def check() -> None:
    """Smoke test: a Temporal workflow whose activity round-trips PostgreSQL and Kafka."""
    # lazy: the Temporal worker machinery, ~0.4 s of a command's start
    from workers.smoke import run_smoke

    try:
        with console.status("running the smoke workflow…"):
            report = asyncio.run(run_smoke(get_settings()))
    except (OSError, RuntimeError) as exc:
        fail(f"smoke check failed: {exc}")
    r = report.result
    console.print(
        f"[green]ok[/] workflow {report.workflow_id} ran on Temporal; its activity wrote and read "
        f"a row in PostgreSQL and echoed a message through Kafka "
        f"({r.kafka_partition}:{r.kafka_offset}) in {report.seconds:.1f} s",
        highlight=False,
    )
