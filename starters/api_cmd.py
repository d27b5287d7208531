"""`telebill api serve | user add | rotate | list | remove | audit export | verify`: the admin
HTTP API and console, who may use them, and what they did."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from starters.common import call, console
from telebill.config import get_settings
from telebill.service import access

if TYPE_CHECKING:
    from telebill.service.deps import Deps

app = typer.Typer(
    help="The admin HTTP API and web console (OpenAPI at /docs), and who may use them.",
    no_args_is_help=True,
)
user = typer.Typer(help="API users: a name, a role and a token.", no_args_is_help=True)
app.add_typer(user, name="user")
audit = typer.Typer(
    help="The audit log: every change, sign-in and read of contact data, each row chained to "
    "the one before by its SHA-256.",
    no_args_is_help=True,
)
app.add_typer(audit, name="audit")


@audit.command("export")
def audit_export(
    out: Annotated[Path, typer.Option(help="The JSON Lines file to write (one row per line).")],
) -> None:
    """Write every chained row, as kept, for a reviewer; `audit verify` checks the chain."""

    async def write(deps: Deps) -> int:
        count = 0
        with out.open("w") as f:
            async for row in access.audit_export(deps):
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                count += 1
        return count

    console.print(f"{call(write):,} rows written to {out}", highlight=False)


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the chain: say how many rows hold, or the first row that was changed (or
    whose predecessor was removed); exit 1 then."""
    check = call(access.audit_verify)
    if check.broken_at is not None:
        console.print(
            f"the chain breaks at row {check.broken_at} (after {check.rows:,} rows that hold): "
            "that row was changed, or one before it removed",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"{check.rows:,} rows, the chain holds", highlight=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (TELEBILL_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TELEBILL_API_PORT).")] = None,
) -> None:
    """Serve the API and the console until stopped. Keep it on loopback behind the TLS proxy
    (deploy/nginx/telebill.conf); nobody can use it before `telebill api user add`."""
    # lazy: FastAPI, Starlette and uvicorn, ~0.35 s of a command's start
    from telebill.api.serve import serve as serve_api

    settings = get_settings()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("telebill").setLevel(logging.INFO)  # one line per request, no more
    where = f"http://{host or settings.api_host}:{port or settings.api_port}"
    console.print(f"console: {where}/console · API: {where}/docs", highlight=False)
    serve_api(settings, host or settings.api_host, port or settings.api_port)


@user.command("add")
def user_add(
    name: Annotated[str, typer.Option(help="Who (a person or a script).")],
    role: Annotated[
        str,
        typer.Option(
            help="viewer (reads), operator (and sends, replays), admin (and manages templates, "
            "windows, members, settlement)."
        ),
    ],
    days: Annotated[int, typer.Option(help="How long the token works (1–366 days).")] = 90,
) -> None:
    """Add a user and print their token once (only its hash is kept)."""
    token = call(lambda deps: access.add_user(deps, name, role, days))
    console.print(
        f"user {name} ({role}), for {days} days; token (shown once): {token}",
        highlight=False,
        soft_wrap=True,
    )


@user.command("rotate")
def user_rotate(
    name: Annotated[str, typer.Option(help="The user's name.")],
    days: Annotated[int, typer.Option(help="How long the new token works (1–366 days).")] = 90,
) -> None:
    """Give a user a new token (printed once): the old one and their console sessions end."""
    token = call(lambda deps: access.rotate_token(deps, name, days))
    console.print(
        f"user {name}, for {days} days; new token (shown once): {token}",
        highlight=False,
        soft_wrap=True,
    )


@user.command("list")
def user_list() -> None:
    table = Table("name", "role", "added", "token expires")
    for u in call(access.users):
        ends = f"{u.expires_at:%Y-%m-%d %H:%M}" if u.expires_at else "-"
        table.add_row(u.name, u.role.value, f"{u.created_at:%Y-%m-%d %H:%M}", ends)
    console.print(table)


@user.command("remove")
def user_remove(name: Annotated[str, typer.Option(help="The user's name.")]) -> None:
    """Remove a user: their token stops working at once."""
    call(lambda deps: access.remove_user(deps, name))
    console.print(f"user {name} removed", highlight=False)
