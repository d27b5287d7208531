"""The `telebill` command: every operator action on the system."""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

from starters import (
    api_cmd,
    archive_cmd,
    blackout_cmd,
    consume_cmd,
    db_cmd,
    dlq_cmd,
    member_cmd,
    notify_cmd,
    reserve_cmd,
    schedules_cmd,
    seed_cmd,
    settle_cmd,
    stack_cmd,
    staging_cmd,
    status_cmd,
    templates_cmd,
    web_cmd,
    worker_cmd,
)
from starters.errors import fail
from telebill.errors import TelebillError

app = typer.Typer(
    help="Telebill: monthly telecom bill settlement and delivery (Temporal, Kafka, PostgreSQL).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(stack_cmd.app, name="stack")
app.add_typer(staging_cmd.app, name="staging")
app.add_typer(db_cmd.app, name="db")
app.command("seed")(seed_cmd.command)
app.command("settle")(settle_cmd.settle)
app.command("report")(settle_cmd.report)
app.command("worker")(worker_cmd.worker)
app.add_typer(schedules_cmd.schedules, name="schedules")
app.add_typer(templates_cmd.app, name="templates")
app.add_typer(blackout_cmd.app, name="blackout")
app.add_typer(consume_cmd.app, name="consume")
app.command("lag")(consume_cmd.lag)
app.add_typer(dlq_cmd.app, name="dlq")
app.command("dispatch")(notify_cmd.dispatch)
app.add_typer(reserve_cmd.reserve, name="reserve")
app.add_typer(member_cmd.member, name="member")
app.command("resend")(notify_cmd.resend)
app.add_typer(notify_cmd.notify, name="notify")
app.command("stuck")(status_cmd.stuck)
app.command("status")(status_cmd.status)
app.add_typer(api_cmd.app, name="api")
app.add_typer(archive_cmd.archive, name="archive")
app.add_typer(web_cmd.app, name="web")


def main() -> None:
    """The console entry point. Ends with os._exit: the Temporal client's Rust threads can abort
    the interpreter while it finalizes (temporalio/sdk-python#300), turning a finished command
    into exit code 134; every command has closed what it opened by then."""
    try:
        run()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def run() -> None:
    try:
        app()
    except TelebillError as exc:
        fail(str(exc))
    except ValidationError as exc:  # a bad TELEBILL_* setting
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(f"invalid setting {where}: {first['msg']}")
    except OSError as exc:  # e.g. a file that cannot be written
        fail(str(exc))
    except Exception as exc:
        # Last resort for what has no message of its own yet (a database error, …): still one
        # line for the user; TELEBILL_DEBUG=1 shows the traceback.
        if os.environ.get("TELEBILL_DEBUG"):
            raise
        fail(
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )
    except KeyboardInterrupt:
        fail("interrupted", code=130)


if __name__ == "__main__":
    main()
