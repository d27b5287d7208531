"""The e-mail channel's provider: the simulated one (the default), or a real relay over SMTP
(telebill/channels/smtp_sender.py) with its TLS, login, sender and optional DKIM key."""

from __future__ import annotations

import contextlib
import ipaddress
import re
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


# A host name as SMTP carries it: ASCII letters, digits and hyphens in dot-separated labels (a
# name in Unicode is written in its IDNA form, xn--…, which this accepts).
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*"
)


def _hostname_problem(variable: str, name: str) -> str | None:
    if _HOSTNAME.fullmatch(name):
        return None
    idna = ""
    with contextlib.suppress(UnicodeError):  # not even IDNA can write it: no hint
        idna = f" (write {name.encode('idna').decode('ascii')!r})" if not name.isascii() else ""
    return f"{variable}: {name!r} is not an ASCII host name{idna}"


class MailSettings(BaseSettings):
    model_config = SECTION_CONFIG

    email_provider: Literal["simulated", "smtp"] = "simulated"
    # The relay (a local Postfix, or an ESP's submission port). `none` is for a relay on
    # loopback: a login over it is refused anywhere else, so a password never travels in clear.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "implicit"] = "none"
    # `none` to a relay that is not on loopback would carry the bills (names, amounts, links)
    # in clear across the network: refused unless this says it is meant (a trusted segment).
    smtp_allow_plain: bool = False
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
        plain_remote = self.smtp_tls == "none" and not _loopback(self.smtp_host)
        if self.smtp_username and plain_remote:
            raise ValueError("TELEBILL_SMTP_TLS=none with a login would send the password in clear")
        if self.email_provider != "smtp":  # the rest is about what goes to the relay
            return self
        if plain_remote and not self.smtp_allow_plain:
            raise ValueError(
                f"TELEBILL_SMTP_TLS=none to {self.smtp_host} would send the bills in clear: "
                "use starttls or implicit, or set TELEBILL_SMTP_ALLOW_PLAIN=true"
            )
        # Checked here, not at the first message: a name SMTP cannot carry fails every
        # send (at EHLO, MAIL FROM or signing), which would be retried all month.
        local, _, domain = self.email_from.rpartition("@")
        names = [("TELEBILL_EMAIL_FROM", domain)]
        names += [("TELEBILL_DKIM_DOMAIN", self.dkim_domain)] if self.dkim_domain else []
        names += [("TELEBILL_SMTP_HELO_NAME", self.smtp_helo_name)] if self.smtp_helo_name else []
        problems = [p for v, n in names if (p := _hostname_problem(v, n))]
        if not local.isascii():
            problems.append("TELEBILL_EMAIL_FROM: the mailbox name is not ASCII")
        if problems:
            raise ValueError("; ".join(problems))
        return self
