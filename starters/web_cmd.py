"""`telebill web serve`: the member's bill page, a public app apart from the admin API."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from starters.common import console
from telebill.config import get_settings
from telebill.settings.web import url_host

app = typer.Typer(
    help="The member's bill page: one bill shown to whoever holds its signed link (the link in "
    "AlimTalk's button, a push's web fallback, the e-mail's 'view in browser').",
    no_args_is_help=True,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (TELEBILL_WEB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TELEBILL_WEB_PORT).")] = None,
) -> None:
    """Serve the bill page until stopped. Keep it on loopback behind the TLS proxy, on a host
    name of its own (deploy/nginx/telebill.conf); the links point at TELEBILL_WEB_BASE_URL."""
    # lazy: Starlette and uvicorn, ~0.3 s of a command's start, for this command alone
    from telebill.web.serve import serve as serve_web

    settings = get_settings()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("telebill").setLevel(logging.INFO)  # one line per request, naming nobody
    where = f"http://{url_host(host or settings.web_host)}:{port or settings.web_port}"
    console.print(f"bill page: {where} · links: {settings.web_url}/b/…", highlight=False)
    serve_web(settings, host or settings.web_host, port or settings.web_port)
