"""A process's own HTTP port (TELEBILL_METRICS_PORT): `/metrics` for Prometheus, `/healthz`
for an orchestrator's probes (Kubernetes' liveness and startup probes, Compose's healthcheck).

`/healthz` answers 200 while the process's event loop turns, and 503 once it has not for
`STALE_S`: a loop blocked (a handler that never yields, a deadlock) no longer does its work, while
the metrics thread would go on answering. What a process waits for outside itself (PostgreSQL,
Kafka, Temporal down) does not make it unhealthy: it waits them out with backoff, and restarting
it would not bring them back.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

import telebill.metrics  # noqa: F401 (registers every metric: each process exposes each name)
from telebill.config import Settings

log = logging.getLogger(__name__)

# The loop stamps every BEAT_S; CPU work on the loop is far shorter than this (a settlement
# chunk priced on the loop: about 0.4 s), so STALE_S without a stamp is a loop that is stuck.
BEAT_S = 1.0
STALE_S = 30.0

StartResponse = Callable[..., Any]


class Heartbeat:
    """When the event loop last turned, stamped by a task on that loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = clock()
        self._task: asyncio.Task[None] | None = None

    def beat(self) -> None:
        self._last = self._clock()

    def silent_for(self) -> float:
        return self._clock() - self._last

    def start(self) -> None:
        """Stamp from the running loop from now on (kept for the loop's life)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="heartbeat")

    async def _run(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(BEAT_S)


def probe_app(
    heartbeat: Heartbeat | None, stale_s: float = STALE_S
) -> Callable[..., Iterable[bytes]]:
    """The port's WSGI application: `/healthz` from the heartbeat (always 200 without one: a
    process with no event loop to watch), anything else the metrics."""
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        silent = heartbeat.silent_for() if heartbeat else 0.0
        ok = silent < stale_s
        body = b"ok\n" if ok else f"event loop silent for {silent:.0f} s\n".encode()
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
        return [body]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Every scrape and probe is not a line in the log."""


def _family(host: str, port: int) -> tuple[socket.AddressFamily, str]:
    """The address family and address to listen on for `host` (a name, IPv4 or IPv6)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, str(address[0])


def serve_metrics(settings: Settings, offset: int = 0, stale_s: float = STALE_S) -> int | None:
    """Serve this process's metrics and health on TELEBILL_METRICS_PORT + offset; None when
    off. A port taken by another process is logged, and the process runs on without them.
    Called on a running event loop, `/healthz` watches that loop."""
    if settings.metrics_port is None:
        return None
    port = settings.metrics_port + offset
    heartbeat = None
    try:
        asyncio.get_running_loop()
        heartbeat = Heartbeat()
    except RuntimeError:  # no loop here: nothing to watch
        pass
    try:
        family, host = _family(settings.metrics_host, port)

        class Server(ThreadingWSGIServer):
            address_family = family  # IPv6 for `::` or `::1`, as prometheus-client's own

        server = make_server(
            host, port, probe_app(heartbeat, stale_s), Server, handler_class=_Quiet
        )
    except OSError as exc:
        log.error("metrics not served: %s:%d: %s", settings.metrics_host, port, exc.strerror)
        return None
    if heartbeat:
        heartbeat.start()
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics, health on /healthz", settings.metrics_host, port)
    return port
