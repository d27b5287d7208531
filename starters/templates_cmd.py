"""`telebill templates …`: versioned e-mail and SMS templates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from starters.common import call
from telebill.channels.base import DEFAULT_CODE
from telebill.config import PROJECT_ROOT
from telebill.service import templates as service

app = typer.Typer(
    help="E-mail and SMS templates: every change is a new version, one version is active.",
    no_args_is_help=True,
)
console = Console()
Channel = Annotated[str, typer.Option("--channel", "-c", help="email or sms (or another channel).")]
Code = Annotated[str, typer.Option(help="Template code.")]


@app.command("list")
def list_(channel: Annotated[str | None, typer.Option("--channel", "-c")] = None) -> None:
    """Every stored version, which one is active, and when it was added."""
    rows = call(lambda deps: service.templates(deps, channel))
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
    t = call(lambda deps: service.template(deps, channel, code, version))
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
    body = file.read_text()
    version = call(lambda deps: service.add(deps, channel, body, code, subject, activate_now))
    console.print(f"{channel}/{code}: stored as version {version}", highlight=False)


@app.command()
def activate(
    channel: Channel,
    version: Annotated[int, typer.Option(help="The version to make active.")],
    code: Code = DEFAULT_CODE,
) -> None:
    """Switch the active version (the others stay stored and readable)."""
    call(lambda deps: service.activate(deps, channel, version, code))
    console.print(f"{channel}/{code}: version {version} is now active", highlight=False)


@app.command("install-defaults")
def install_defaults() -> None:
    """Store the shipped Korean templates (HTML e-mail, SMS summary) where missing."""
    for line in call(service.install_defaults):
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
    """Render a template for a bill: writes an e-mail to an HTML file, prints an SMS. A settled
    bill's message also says the member's link to the bill's page it carries."""
    message = call(lambda deps: service.preview(deps, channel, bill, code, version))
    if bill is not None and message.web_link:
        console.print(f"link: {message.web_link}", highlight=False, markup=False, soft_wrap=True)
    if channel != "email":
        console.print(f"{message.kind}, {message.size_bytes} bytes (EUC-KR):", highlight=False)
        console.print(message.body, highlight=False, markup=False)
        return
    path = out or PROJECT_ROOT / "preview" / f"bill-{bill if bill is not None else 'sample'}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(message.body)
    console.print(f"subject: {message.subject}", highlight=False, markup=False)
    console.print(str(path.resolve()), highlight=False)
