"""What every request to the bill page meets before a route: the rate limit of its address,
the security headers, and one log line that names nobody.

The log line is the method, the route's pattern (`/b/{token}`, never the token), the status
and the time: no path, no query, no address, no header. uvicorn's own access log, which
prints the path, is off (telebill/web/serve.py).
"""

from __future__ import annotations

import ipaddress
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from telebill.asgi_answers import log_request, send_whole
from telebill.web.limiter import TokenBuckets, retry_after
from telebill.web.pages import PAGE_POLICY, TOO_MANY

log = logging.getLogger("telebill.web")

UNLIMITED = frozenset({"/healthz"})  # the proxy's and the orchestrator's checks
SECURITY_HEADERS = [
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # the link is the key to the bill: never sent on to anyone in a Referer
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),  # a bill: never in a shared cache, nor kept on the phone
    (b"x-robots-tag", b"noindex, nofollow"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
]


def client_bucket(address: str) -> str:
    """Whose bucket a request takes from: an IPv4 address's own; an IPv6 address's /64, which
    is one subscriber's (a home or a phone gets a /64 or more and may use any address in it,
    so a bucket per address would let one client rotate past the limit); an IPv4 address
    mapped into IPv6 (a dual-stack socket) as the IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an address ("-", a Unix socket's peer): its own bucket
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def security_headers() -> dict[str, str]:
    """The same, for an answer made outside this guard (Starlette's answer to a bug)."""
    return {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


class Guard:
    """Pure ASGI: the limit checked before the app runs, the headers added to its answer
    (those the answer set itself, the letter's own policy, are kept)."""

    def __init__(self, app: ASGIApp, limiter: TokenBuckets) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = {"code": 0}

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                own = list(message.get("headers", []))
                named = {name.lower() for name, _ in own}
                message["headers"] = own + [h for h in SECURITY_HEADERS if h[0] not in named]
            await send(message)

        # the peer, or the trusted proxy's X-Forwarded-For (uvicorn's proxy headers)
        address = scope["client"][0] if scope.get("client") else "-"
        limited = scope.get("path") not in UNLIMITED
        wait = self.limiter.take(client_bucket(address)) if limited else 0.0
        try:
            if wait:
                await self._too_many(secured, wait)
            else:
                await self.app(scope, receive, secured)
        finally:
            log_request(log, scope, status["code"] or 500, began)

    @staticmethod
    async def _too_many(send: Send, wait: float) -> None:
        later = [(b"retry-after", retry_after(wait).encode())]
        await send_whole(send, 429, b"text/html; charset=utf-8", TOO_MANY.encode(), later)
