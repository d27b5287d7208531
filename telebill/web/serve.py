"""The bill page's HTTP server: uvicorn without its access log (its lines carry the path, and
the path carries the link's token), stopped within TELEBILL_SHUTDOWN_TIMEOUT_S of SIGTERM as
the API's is (telebill/api/serve.py)."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from telebill.config import Settings
from telebill.shutdown import Deadline
from telebill.web.app import create_app


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, deadline: Deadline) -> None:
        super().__init__(config)
        self.deadline = deadline

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.deadline.signalled(signal.Signals(sig).name):
            self.should_exit = True  # not re-raised after the stop: exit status 0


def server_config(settings: Settings, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=settings.web_trusted_proxies,
        access_log=False,
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout_s / 2)),
        # Beyond this many connections and requests at once, uvicorn answers 503 at once: a
        # flood of a public page is refused rather than queued without end (the requests
        # inside wait for a database connection at most TELEBILL_WEB_DB_ACQUIRE_TIMEOUT_S).
        limit_concurrency=settings.web_limit_concurrency,
    )


def serve(settings: Settings, host: str, port: int) -> None:
    server = _Server(
        server_config(settings, host, port), Deadline("web", settings.shutdown_timeout_s)
    )
    server.run()
    server.deadline.cancel()
