"""What the admin API's and the bill page's guards share, below any framework: a whole answer
sent in two ASGI messages, and the one access-log line of a request, which names the route's
pattern (`/b/{token}`, `/api/members/{member_id}`) and never the path, query or caller."""

from __future__ import annotations

import logging
import time

from starlette.types import Scope, Send

Headers = list[tuple[bytes, bytes]]


async def send_whole(
    send: Send, code: int, content_type: bytes, body: bytes, headers: Headers
) -> None:
    """An answer made by the guard itself (a refusal before any route ran)."""
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def log_request(log: logging.Logger, scope: Scope, status: int, began: float) -> None:
    """Method, route pattern, status and milliseconds since `began` (time.perf_counter)."""
    route = scope.get("route")
    pattern = getattr(route, "path", None) or "(no route)"
    log.info(
        "%s %s %d %.0f ms",
        scope.get("method"),
        pattern,
        status,
        (time.perf_counter() - began) * 1000,
    )
