"""The e-mail channel's provider: the simulated one (the default), or a real relay over SMTP
(telebill/channels/smtp_sender.py) with its TLS, login, sender and optional DKIM key."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MailSettings(BaseSettings):
    model_config = SECTION_CONFIG

    email_provider: Literal["simulated", "smtp"] = "simulated"
    # The relay (a local Postfix, or an ESP's submission port). `none` is for a relay on
    # loopback: a login over it is refused anywhere else, so a password never travels in clear.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "implicit"] = "none"
    smtp_ca_file: Path | None = None  # the relay's CA, where it is not a public one
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None  # read from the environment; never logged
    smtp_helo_name: str | None = None  # the name in EHLO; default the From address's domain
    # Connections kept open to the relay by each consumer process (never more than
    # consumer_max_in_flight); each carries one message at a time.
    smtp_connections: int = Field(default=16, ge=1, le=1000)
    smtp_timeout_s: float = Field(default=30.0, gt=0)  # connect and every command
    smtp_idle_s: float = Field(default=30.0, gt=0)  # a connection idle longer is not reused
    # The From header; the domain also names every Message-ID.
    email_from: str = Field(default="bill@telebill.example", pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    email_from_name: str = "텔레빌 고객센터"
    # DKIM signing: a selector and an RSA private key (PEM) together; the domain defaults to
    # the From address's.
    dkim_selector: str | None = None
    dkim_key_file: Path | None = None
    dkim_domain: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.dkim_selector is None) != (self.dkim_key_file is None):
            raise ValueError("TELEBILL_DKIM_SELECTOR and TELEBILL_DKIM_KEY_FILE go together")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("TELEBILL_SMTP_USERNAME and TELEBILL_SMTP_PASSWORD go together")
        if self.smtp_username and self.smtp_tls == "none" and not _loopback(self.smtp_host):
            raise ValueError("TELEBILL_SMTP_TLS=none with a login would send the password in clear")
        return self
