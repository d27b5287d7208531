"""The member's bill page (`telebill web serve`): a public app of its own, apart from the admin
API. It knows no user, reads no cookie and no Authorization header, and has no route but the
bill's: nothing of the admin API's is reachable through it, whatever a request carries.

- `GET /b/<token>`: the bill (telebill/web/pages.py), or the one 404 page;
- `GET /b/<token>/letter`: the bill's e-mail, the page's frame;
- `GET /healthz`: for the proxy's checks, says nothing.

Anything else, another method included, is the same 404 page.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from telebill.config import Settings
from telebill.errors import Unavailable
from telebill.service import bill_page
from telebill.service.bootstrap import web_process
from telebill.service.deps import Deps
from telebill.web import pages
from telebill.web.guard import Guard, security_headers
from telebill.web.limiter import TokenBuckets

log = logging.getLogger("telebill.web")

# PostgreSQL away (or its pool's connection lost): the page says "later", not "broken"
AWAY = (Unavailable, OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError)


def create_app(settings: Settings, deps: Deps | None = None) -> Starlette:
    """The app; `deps`: dependencies already open (a test's), else the process's own."""
    key = settings.bill_link_key()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if deps is not None:  # a test's, open already
            yield
            return
        async with web_process(settings) as opened:
            app.state.deps = opened
            yield

    async def bill(request: Request) -> Response:
        token = request.path_params["token"]
        found = await bill_page.bill(request.app.state.deps, key, token)
        if found is None:
            return not_found()
        # relative: the frame resolves under whatever prefix the proxy serves the page at
        return HTMLResponse(pages.bill_html(found, f"{token}/letter"))

    async def letter(request: Request) -> Response:
        html = await bill_page.letter(request.app.state.deps, key, request.path_params["token"])
        return not_found() if html is None else pages.letter_page(html)

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def missing(_: Request, __: Exception) -> Response:
        return not_found()

    async def away(_: Request, __: Exception) -> Response:
        return HTMLResponse(pages.UNAVAILABLE, status_code=503, headers={"Retry-After": "30"})

    async def failed(request: Request, exc: Exception) -> Response:
        # A bug: logged with a reference and the route's pattern, never the path (its token).
        ref = secrets.token_hex(4)
        route = getattr(request.scope.get("route"), "path", "(no route)")
        log.error("unexpected error %s on %s %s", ref, request.method, route, exc_info=exc)
        return HTMLResponse(pages.FAILED, status_code=500, headers=security_headers())

    app = Starlette(
        routes=[
            Route("/b/{token}", bill, methods=["GET"]),
            Route("/b/{token}/letter", letter, methods=["GET"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        exception_handlers={
            404: missing,
            405: missing,
            **dict.fromkeys(AWAY, away),
            Exception: failed,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # `/b/<token>/` is the same 404, not a redirect
    app.add_middleware(
        Guard, limiter=TokenBuckets(settings.web_rate_per_minute, settings.web_rate_burst)
    )
    if deps is not None:
        app.state.deps = deps
    return app


def not_found() -> Response:
    return HTMLResponse(pages.NOT_FOUND, status_code=404)
