"""What every long-running process (worker, consumer, API) shares: its metrics endpoint and how
long it has to stop."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class ProcessSettings(BaseSettings):
    model_config = SECTION_CONFIG

    # After SIGTERM/Ctrl-C a worker, consumer or API process has this long to finish or hand
    # back what it has in flight; then it exits all the same (telebill/shutdown.py).
    shutdown_timeout_s: float = Field(default=20.0, gt=0)
    # Monitoring (off by default): each process serves Prometheus metrics on this port; a
    # `--scale auto` supervisor gives its n-th consumer process the port + n. The Temporal
    # worker serves the SDK's own metrics on TELEBILL_SDK_METRICS_PORT (default: the port + 1).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 where Prometheus scrapes from another host
