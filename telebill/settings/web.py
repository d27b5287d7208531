"""The member's bill page (`telebill web serve`): its address, the links to it (their base, key
and how long they work), its rate limit per client address and its bounds on waiting requests;
and what tells a loopback address, which the links' checks below and in telebill/config.py use."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG

# What a server listens on to take every address: never an address a link can point at.
ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1 (an IPv6 address with or without its brackets)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost: resolved elsewhere, maybe to anything
        return False


def url_host(host: str) -> str:
    """A host as a URL writes it: an IPv6 address in brackets."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else host


def is_local_db_url(url: str | None) -> bool:
    """Whether a database URL is this host's (loopback, or a Unix socket); None: the stack's."""
    if url is None:
        return True
    try:
        host = urlsplit(url).hostname  # None: a socket, given as ?host=/path or not at all
    except ValueError:  # several hosts, or a malformed port: not evidently this host's
        return False
    return host is None or is_loopback(host)


class WebSettings(BaseSettings):
    model_config = SECTION_CONFIG

    # A public page of its own, apart from the admin API: on loopback behind the TLS proxy,
    # on a host name of its own (deploy/nginx/telebill.conf).
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=58081, ge=1, le=65535)
    # Where the links in the messages point, without a trailing slash: the page's public
    # address, https (http only on a loopback host: a bill's link is its key, never sent in
    # the clear). Unset: this machine's page for the local stack, http://<web_host>:<web_port>
    # with 127.0.0.1 for 0.0.0.0 or ::; refused for any other non-loopback web_host
    # (Settings.web_url).
    web_base_url: str | None = Field(default=None, pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")
    # The links' HMAC key, at least 32 characters; the same on every process that builds or
    # checks links (consumers, the API's previews, the page). Unset: generated on first use
    # into <stack_dir>/secrets/bill-link.key, for the local stack only: refused when
    # web_base_url is set or the database is on another host (Settings.bill_link_key). A new
    # key ends every link sent before it.
    web_link_key: SecretStr | None = Field(default=None, min_length=32)
    # A link works until the end of this many days after its bill's due date (system zone).
    web_link_valid_days: int = Field(default=60, ge=1, le=3660)
    # Requests per client address (an IPv6 client's whole /64): a bucket of `burst`, refilled
    # at `per_minute` (a bill's view is two requests: the page and its letter frame).
    web_rate_per_minute: float = Field(default=60.0, gt=0)
    web_rate_burst: int = Field(default=20, ge=2)
    # Proxies whose X-Forwarded-For is believed (Nginx on the same host)
    web_trusted_proxies: str = "127.0.0.1"
    # Connections and requests a page process holds at once; uvicorn answers 503 beyond them,
    # so a flood queues nothing unbounded in memory.
    web_limit_concurrency: int = Field(default=100, ge=1)
    # How long a request waits for one of the pool's connections (TELEBILL_DB_POOL_SIZE)
    # before it is answered 503 with Retry-After, rather than waiting with the rest.
    web_db_acquire_timeout_s: float = Field(default=5.0, gt=0)

    @field_validator("web_base_url")
    @classmethod
    def _public_base(cls, url: str | None) -> str | None:
        if not url:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host in ANY_ADDRESS or host.strip("[]") in ANY_ADDRESS:
            raise ValueError(f"{host or 'an empty host'} is where a server listens, not a link's")
        if parts.scheme != "https" and not is_loopback(host):
            raise ValueError(
                "must be https (http only on a loopback host): the link opens a member's bill"
            )
        return url.rstrip("/")
