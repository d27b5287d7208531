"""The member's bill page (`telebill web serve`): its address, the links to it (their base, key
and how long they work) and its rate limit per client address."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class WebSettings(BaseSettings):
    model_config = SECTION_CONFIG

    # A public page of its own, apart from the admin API: on loopback behind the TLS proxy,
    # on a host name of its own (deploy/nginx/telebill.conf).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=58081, ge=1, le=65535)
    # Where the links in the messages point, without a trailing slash: the page's public
    # address. Unset: this machine's page (http://<web_host>:<web_port>), for the local stack.
    web_base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    # The links' HMAC key, at least 32 characters; the same on every process that builds or
    # checks links (consumers, the API's previews, the page). Unset: generated on first use
    # into <stack_dir>/secrets/bill-link.key. A new key ends every link sent before it.
    web_link_key: SecretStr | None = Field(default=None, min_length=32)
    # A link works until the end of this many days after its bill's due date (system zone).
    web_link_valid_days: int = Field(default=60, ge=1, le=3660)
    # Requests per client address: a bucket of `burst`, refilled at `per_minute` (a bill's
    # view is two requests: the page and its letter frame).
    web_rate_per_minute: float = Field(default=60.0, gt=0)
    web_rate_burst: int = Field(default=20, ge=2)
    # Proxies whose X-Forwarded-For is believed (Nginx on the same host)
    web_trusted_proxies: str = "127.0.0.1"

    @field_validator("web_base_url")
    @classmethod
    def _no_trailing_slash(cls, url: str | None) -> str | None:
        return url.rstrip("/") if url else url
