"""The admin API's application: the service layer's dependencies opened once (a pool, one
Temporal client), the routes, the console, and the service's errors as 4xx/503 answers."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse

from telebill.api import console, routes_manage, routes_read, routes_send
from telebill.api.middleware import Guard
from telebill.api.security import SendLimiter, status_of
from telebill.config import Settings
from telebill.errors import TelebillError
from telebill.service.bootstrap import api_process

log = logging.getLogger("telebill.api")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with api_process(settings) as deps:
            app.state.deps = deps
            yield

    app = FastAPI(
        title="Telebill admin API",
        summary="Settle and deliver telecom bills: the operator's buttons, as JSON.",
        version="1",
        lifespan=lifespan,
    )
    app.state.limiter = SendLimiter(settings.api_send_rate)
    app.state.read_limiter = SendLimiter(settings.api_personal_read_rate, "reads of personal data")

    @app.exception_handler(TelebillError)
    async def explained(_: Request, exc: TelebillError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_of(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not the caller's mistake: logged with a reference the caller is given (the
        # route's pattern only, never the path's ids or the query: they may name a person).
        ref = secrets.token_hex(4)
        route = getattr(request.scope.get("route"), "path", "(unrouted)")
        log.error("unexpected error %s on %s %s", ref, request.method, route, exc_info=exc)
        return JSONResponse({"detail": f"internal error (logged as {ref})"}, status_code=500)

    @app.exception_handler(console.SignIn)
    async def sign_in(_: Request, __: console.SignIn) -> RedirectResponse:
        return console.to_login()

    @app.get("/api/health", tags=["read"])
    async def health() -> dict[str, str]:
        """For the proxy's and the orchestrator's checks; no sign-in needed, says nothing."""
        return {"status": "ok"}

    app.include_router(routes_read.router)
    app.include_router(routes_send.router)
    app.include_router(routes_manage.router)
    app.include_router(console.router)
    app.mount("/console/static", console.static_files(), name="static")
    app.add_middleware(Guard, max_body=settings.api_max_body_bytes)
    return app
