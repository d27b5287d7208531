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


def serve(settings: Settings, host: str, port: int) -> None:
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=settings.web_trusted_proxies,
        access_log=False,
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout_s / 2)),
    )
    server = _Server(config, Deadline("web", settings.shutdown_timeout_s))
    server.run()
    server.deadline.cancel()
