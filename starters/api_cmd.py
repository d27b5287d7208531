"""`telebill api serve | user add | user list | user remove`: the admin HTTP API and console."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.table import Table

from starters.common import call, console
from telebill.config import get_settings
from telebill.service import access

app = typer.Typer(
    help="The admin HTTP API and web console (OpenAPI at /docs), and who may use them.",
    no_args_is_help=True,
)
user = typer.Typer(help="API users: a name, a role and a token.", no_args_is_help=True)
app.add_typer(user, name="user")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (TELEBILL_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TELEBILL_API_PORT).")] = None,
) -> None:
    """Serve the API and the console until stopped. Keep it on loopback behind the TLS proxy
    (deploy/nginx/telebill.conf); nobody can use it before `telebill api user add`."""
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
) -> None:
    """Add a user and print their token once (only its hash is kept)."""
    token = call(lambda deps: access.add_user(deps, name, role))
    console.print(
        f"user {name} ({role}); token (shown once): {token}", highlight=False, soft_wrap=True
    )


@user.command("list")
def user_list() -> None:
    table = Table("name", "role", "added")
    for u in call(access.users):
        table.add_row(u.name, u.role.value, f"{u.created_at:%Y-%m-%d %H:%M}")
    console.print(table)


@user.command("remove")
def user_remove(name: Annotated[str, typer.Option(help="The user's name.")]) -> None:
    """Remove a user: their token stops working at once."""
    call(lambda deps: access.remove_user(deps, name))
    console.print(f"user {name} removed", highlight=False)
