"""`telebill templates …`: versioned e-mail and SMS templates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from starters.common import with_db
from starters.errors import UserError
from telebill.config import PROJECT_ROOT

if TYPE_CHECKING:
    from telebill.channels.base import TemplateSource
    from telebill.db.connect import DbConn

app = typer.Typer(
    help="E-mail and SMS templates: every change is a new version, one version is active.",
    no_args_is_help=True,
)
console = Console()
Channel = Annotated[str, typer.Option("--channel", "-c", help="email or sms (or another channel).")]
Code = Annotated[str, typer.Option(help="Template code.")]
DEFAULT_CODE = "monthly_bill"


@app.command("list")
def list_(channel: Annotated[str | None, typer.Option("--channel", "-c")] = None) -> None:
    """Every stored version, which one is active, and when it was added."""
    from telebill.templates.store import list_templates

    rows = with_db(lambda conn: list_templates(conn, channel))
    table = Table("channel", "code", "version", "active", "added", "body lines")
    for t in rows:
        s = t.source
        table.add_row(
            s.channel,
            s.code,
            str(s.version),
            "●" if t.active else "",
            f"{t.created_at:%Y-%m-%d %H:%M}",
            str(len(s.body.splitlines())),
        )
    console.print(table)


@app.command()
def show(
    channel: Channel,
    code: Code = DEFAULT_CODE,
    version: Annotated[int | None, typer.Option(help="Default: the active version.")] = None,
) -> None:
    """Print a template's source (subject and body)."""
    from telebill.templates.store import get_template

    t = with_db(lambda conn: get_template(conn, channel, code, version))
    console.print(f"# {t.channel}/{t.code} version {t.version}", highlight=False)
    if t.subject:
        console.print(f"subject: {t.subject}", highlight=False, markup=False)
    console.print(t.body, highlight=False, markup=False)


@app.command()
def add(
    channel: Channel,
    file: Annotated[
        Path, typer.Argument(help="The template body (jinja2).", exists=True, dir_okay=False)
    ],
    code: Code = DEFAULT_CODE,
    subject: Annotated[str | None, typer.Option(help="Subject line (e-mail), jinja2.")] = None,
    activate_now: Annotated[
        bool, typer.Option("--activate", help="Make it the active version.")
    ] = False,
) -> None:
    """Add a new version from a file, after rendering it against a sample bill.

    A template that does not render (syntax error, unknown variable, an SMS longer than an LMS
    can hold, …) is refused with its line and the reason, and nothing is stored.
    """
    from telebill.templates.store import add_template

    body = file.read_text()
    version = with_db(lambda conn: add_template(conn, channel, code, subject, body, activate_now))
    console.print(f"{channel}/{code}: stored as version {version}", highlight=False)


@app.command()
def activate(
    channel: Channel,
    version: Annotated[int, typer.Option(help="The version to make active.")],
    code: Code = DEFAULT_CODE,
) -> None:
    """Switch the active version (the others stay stored and readable)."""
    from telebill.templates.store import activate as do_activate

    with_db(lambda conn: do_activate(conn, channel, code, version))
    console.print(f"{channel}/{code}: version {version} is now active", highlight=False)


@app.command("install-defaults")
def install_defaults() -> None:
    """Store the shipped Korean templates (HTML e-mail, SMS summary) where missing."""
    from telebill.templates.store import install_defaults as install

    for line in with_db(install):
        console.print(line, highlight=False)


@app.command()
def preview(
    channel: Channel = "email",
    bill: Annotated[
        int | None, typer.Option("--bill", help="A settled bill's id (default: a sample bill).")
    ] = None,
    code: Code = DEFAULT_CODE,
    version: Annotated[int | None, typer.Option(help="Default: the active version.")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the e-mail (HTML).")] = None,
) -> None:
    """Render a template for a bill: writes an e-mail to an HTML file, prints an SMS."""
    from telebill.channels import channel as get_channel
    from telebill.templates.bills import load_contexts
    from telebill.templates.context import BillContext, sample_context
    from telebill.templates.store import get_template

    async def load(conn: DbConn) -> tuple[TemplateSource, BillContext]:
        template = await get_template(conn, channel, code, version)
        if bill is None:
            return template, sample_context()
        contexts = await load_contexts(conn, [bill])
        if bill not in contexts:
            raise UserError(f"no bill with id {bill}")
        return template, contexts[bill]

    template, context = with_db(load)
    message = get_channel(channel).render(template, context)
    if channel != "email":
        console.print(f"{message.kind}, {message.size_bytes} bytes (EUC-KR):", highlight=False)
        console.print(message.body, highlight=False, markup=False)
        return
    path = out or PROJECT_ROOT / "preview" / f"bill-{bill if bill is not None else 'sample'}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(message.body)
    console.print(f"subject: {message.subject}", highlight=False, markup=False)
    console.print(str(path.resolve()), highlight=False)
