"""`telebill staging …`: the production layout run whole on this machine."""

from __future__ import annotations

import asyncio
import os
import shlex
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from starters.errors import fail
from telebill.config import get_settings
from telebill.credentials import link_key_file
from telebill.stack.process import StackError
from telebill.staging import layout
from telebill.staging.installation import Staging

app = typer.Typer(
    help=(
        "A staging installation on this machine, laid out as docker-compose.yml: PostgreSQL "
        "with the application's roles, three Kafka brokers, the production Temporal server, a "
        "worker per task queue, each channel's consumers under --scale auto, the API and the "
        "bill page behind Nginx with TLS, and Prometheus with the alert rules (or, to compare, "
        "the same on the dev server and one broker: up --infrastructure dev). Its data, pids "
        "and logs are in .stack-staging/ beside the stack's folder; its ports are its own."
    ),
    no_args_is_help=True,
)
console = Console()


def _staging() -> Staging:
    main = get_settings().stack_dir
    return Staging(layout.folder(main), main, say=_say)


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


@app.command()
def up(
    infrastructure: Annotated[
        layout.Infrastructure | None,
        typer.Option(
            "--infrastructure",
            help=(
                "production: the production Temporal server and three brokers; dev: the dev "
                "server and one broker (what `make demo` runs on), the roles and Nginx the "
                "same, to compare. Kept in the folder (default: what it was brought up on, "
                "production the first time); changing it needs `staging down` first."
            ),
        ),
    ] = None,
) -> None:
    """Bring every part up (idempotent: what runs is kept, what does not is started), each
    waited for until it answers. The production server is built the first time (minutes)."""
    staging = _staging()
    try:
        asyncio.run(staging.up(infrastructure))
    except StackError as exc:
        fail(f"{exc} (logs: {staging.root / 'logs'})")
    _say(
        f"up: https://127.0.0.1:{layout.HTTPS_PORT} (Host {layout.API_HOST}: the API and "
        f"console; Host {layout.WEB_HOST}: the bill page), Prometheus "
        f"http://127.0.0.1:{layout.PROMETHEUS_PORT}; the API token is in {staging.token_file}"
    )


@app.command()
def down(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the data (the default deletes it).")
    ] = False,
) -> None:
    """Stop every process of the installation and, unless --keep, delete its folder."""
    staging = _staging()
    try:
        staging.down(purge=not keep)
    except StackError as exc:
        fail(str(exc))
    _say("staging installation " + ("stopped, data kept" if keep else "stopped and removed"))


@app.command()
def status() -> None:
    """Each process: its pid, whether it answers, where. Exit code 3 when one does not."""
    rows = asyncio.run(_staging().status())
    table = Table("process", "pid", "state", "address")
    for r in rows:
        state = "[green]answers[/]" if r.healthy else "[red]down[/]"
        table.add_row(r.name, str(r.pid or "-"), state, r.where)
    console.print(table)
    if not all(r.healthy for r in rows):
        raise typer.Exit(3)


@app.command()
def env() -> None:
    """The installation's settings as shell exports: `eval "$(telebill staging env)"`, then any
    `telebill` command acts on the staging installation. Settings naming another installation
    are unset; the bill links' key is read from its file, not printed."""
    staging = _staging()
    for name in sorted(set(os.environ) - set(layout.without_settings(dict(os.environ)))):
        print(f"unset {name}")
    for name, value in staging.settings().items():
        if name == "TELEBILL_WEB_LINK_KEY":
            print(f'export {name}="$(cat {shlex.quote(str(link_key_file(staging.root)))})"')
        else:
            print(f"export {name}={shlex.quote(value)}")
