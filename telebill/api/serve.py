"""The API's HTTP server: uvicorn, stopped within TELEBILL_SHUTDOWN_TIMEOUT_S of SIGTERM.

uvicorn's own graceful shutdown waits for open connections without end (a slow client, a long
request); here requests get half the time, then are cancelled, and the process's deadline
(telebill/shutdown.py) ends it after the whole time whatever is left.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from telebill.api.app import create_app
from telebill.config import Settings
from telebill.shutdown import Deadline


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
        forwarded_allow_ips=settings.api_trusted_proxies,
        access_log=False,  # its lines carry query strings; the API logs the route pattern
        server_header=False,
        log_level="warning",
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout_s / 2)),
    )
    server = _Server(config, Deadline("api", settings.shutdown_timeout_s))
    server.run()
    server.deadline.cancel()
