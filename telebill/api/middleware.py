"""What every request meets before a route: a size limit, no NUL in the path or query, security
headers, and one log line without personal data (the route's pattern, never the path's ids or the
query string)."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telebill.asgi_answers import log_request, send_whole

log = logging.getLogger("telebill.api")

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    # The console loads nothing from elsewhere and has no inline script or style; an e-mail
    # preview is a frame of this site with a policy of its own (telebill/api/preview_frames.py).
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; frame-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
]


NO_STORE = (b"cache-control", b"no-store")


class TooLarge(Exception):
    pass


class Guard:
    """Pure ASGI (no buffering of its own): refuses a body over `max_body` with 413, whether
    announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = {"code": 0}
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._refuse(send, status)
            log_request(log, scope, status["code"], began)
            return
        if "\x00" in str(scope.get("path", "")) or b"%00" in scope.get("query_string", b""):
            # PostgreSQL's text cannot hold a NUL: refused here once, for every parameter of
            # every route, rather than met as an error of the driver (a 500) deep in one.
            await self._refuse(send, status, 400, "a NUL character in the path or query")
            log_request(log, scope, status["code"], began)
            return
        seen = 0
        overflow = {"hit": False, "answered": False}
        static = str(scope.get("path", "")).startswith("/console/static/")

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    overflow["hit"] = True
                    raise TooLarge
            return message

        async def secured(message: Message) -> None:
            if overflow["hit"]:
                # A streamed body went past the limit: whatever the app makes of the error it
                # met reading it (FastAPI answers 400), the answer is 413.
                if not overflow["answered"]:
                    overflow["answered"] = True
                    await self._refuse(send, status)
                return
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                own = message.get("headers", [])
                named = {name.lower() for name, _ in own}
                # a response that set one of these itself (a preview frame's policy) keeps it
                extra = [h for h in SECURITY_HEADERS if h[0] not in named]
                if not static and b"cache-control" not in named:
                    extra.append(NO_STORE)  # personal data, a CSRF token: never in a cache
                message["headers"] = [*own, *extra]
            await send(message)

        try:
            await self.app(scope, limited, secured)
        except TooLarge:
            if not overflow["answered"]:
                overflow["answered"] = True
                await self._refuse(send, status)
        log_request(log, scope, status["code"], began)

    async def _refuse(
        self,
        send: Send,
        status: dict[str, int],
        code: int = 413,
        why: str = "request body too large",
    ) -> None:
        status["code"] = code
        body = json.dumps({"detail": why}).encode()
        await send_whole(send, code, b"application/json", body, SECURITY_HEADERS)
