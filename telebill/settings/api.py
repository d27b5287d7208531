"""The admin API and console (`telebill api serve`): its address, sessions, preview helpers and
rate limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class ApiSettings(BaseSettings):
    model_config = SECTION_CONFIG

    # The admin API and console (`telebill api serve`): on loopback, behind a TLS proxy (Nginx,
    # deploy/nginx/telebill.conf). Users and their roles: `telebill api user add`.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=58080, ge=1, le=65535)
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)  # larger requests: 413
    # Console sessions (server-side; the cookie holds a random id): ended after this long
    # without a request, and this long after sign-in whatever happens. Sign-in is refused for
    # an address with this many wrong tokens within the window.
    console_session_idle_s: int = Field(default=30 * 60, ge=60)
    console_session_max_s: int = Field(default=12 * 3600, ge=60)
    console_sign_in_failures: int = Field(default=10, ge=1)
    console_sign_in_window_s: int = Field(default=15 * 60, ge=1)
    # Previews and `templates add` render in helper processes (telebill/templates/isolated.py):
    # this many, each stopped after the timeout (a 422 that says so) or beyond its memory.
    preview_processes: int = Field(default=2, ge=1, le=16)
    preview_timeout_s: float = Field(default=3.0, gt=0)
    preview_memory_mb: int = Field(default=256, ge=32)
    # calls of the sending endpoints (send now, resend, reserve, replay) per user
    api_send_rate: str = Field(default="20/minute", pattern=r"^\d+/(second|minute|hour)$")
    # reads of a member's contact data in full (operators and admins; each one audited)
    api_personal_read_rate: str = Field(default="300/hour", pattern=r"^\d+/(second|minute|hour)$")
    # proxies whose X-Forwarded-For/-Proto are believed (Nginx on the same host)
    api_trusted_proxies: str = "127.0.0.1"
