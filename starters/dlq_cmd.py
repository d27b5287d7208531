"""`telebill dlq list | replay`: the dead letters of the message platform."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from starters.common import call
from starters.errors import UserError
from telebill.service import dead_letters as service

app = typer.Typer(
    help="Dead letters: bills no channel could deliver, with the reason.", no_args_is_help=True
)
console = Console()


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include those already replayed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Dead letters not yet replayed: id, bill, reason, first and last error."""
    letters = call(lambda deps: service.every_dead_letter(deps, all_))
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "id": d.id,
                        "bill_id": d.bill_id,
                        "reason": d.reason,
                        "first_error": d.first_error,
                        "last_error": d.last_error,
                        "created_at": d.created_at.isoformat(),
                        "replayed_at": d.replayed_at.isoformat() if d.replayed_at else None,
                        "event": d.event,
                    }
                    for d in letters
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    table = Table("id", "bill", "reason", "first error", "last error", "at")
    for d in letters:
        table.add_row(
            str(d.id),
            str(d.bill_id or "-"),
            d.reason,
            d.first_error or "",
            d.last_error or "",
            f"{d.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command()
def replay(
    ids: Annotated[
        list[int] | None, typer.Option("--id", help="Dead letter id (repeatable).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Every dead letter not yet replayed.")
    ] = False,
) -> None:
    """Send dead letters back to the start of the chain (e-mail first). Delivered bills are
    not sent again. A letter that holds no event to replay (a malformed message, a letter from
    another producer) is skipped with the reason, and the others go on."""
    if not ids and not all_:
        raise UserError("say which: --id N (repeatable) or --all")
    result = call(lambda deps: service.replay(deps, ids, all_))
    done = result.done
    console.print(
        f"replayed {len(done)} dead letter(s): {', '.join(map(str, done)) or '-'}", highlight=False
    )
    for letter, why in result.skipped:
        console.print(f"not replayed: dead letter {letter}: {why}", highlight=False)
