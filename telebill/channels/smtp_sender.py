"""The e-mail channel's provider when it is a real relay (TELEBILL_EMAIL_PROVIDER=smtp): each
message built (telebill/channels/smtp_message.py), sent in one SMTP transaction over a pooled
connection (smtp_pool.py), the relay's answer turned into the chain's terms (smtp_replies.py),
and its delivery key kept once the relay took it (smtp_keys.py).
"""

from __future__ import annotations

import email.errors
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiosmtplib import SMTP, SMTPResponseException, SMTPServerDisconnected

from telebill.channels.base import DeliveryFailed, RenderedMessage
from telebill.channels.smtp_keys import RelayKeys
from telebill.channels.smtp_message import (
    DkimKey,
    MailFrom,
    ascii_address,
    build,
    sign,
    to_bytes,
)
from telebill.channels.smtp_pool import Lease, SmtpPool
from telebill.channels.smtp_replies import Stage, failure
from telebill.errors import TelebillError
from telebill.resilience import describe
from telebill.settings.mail import MailSettings

log = logging.getLogger(__name__)


class SmtpSender:
    def __init__(
        self,
        settings: MailSettings,
        connections: int,
        now: Callable[[], datetime],
        keys: RelayKeys | None = None,
    ) -> None:
        self.settings = settings
        self.mail_from = MailFrom(settings.email_from, settings.email_from_name)
        self.now = now
        self.keys = keys
        self.dkim = _dkim_key(settings, self.mail_from)
        self.tls = None if settings.smtp_tls == "none" else _tls_context(settings)
        self.pool = SmtpPool(self._connect, connections, settings.smtp_idle_s)
        log.info(
            "e-mail over SMTP: %s:%d, TLS %s, %s, up to %d connections, %s",
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_tls,
            "login" if settings.smtp_username else "no login",
            connections,
            f"DKIM {self.dkim.selector}._domainkey.{self.dkim.domain}" if self.dkim else "no DKIM",
        )

    async def send(
        self, address: str, message: RenderedMessage, idempotency_key: str | None = None
    ) -> bool:
        """True: the relay accepted it now; False: it accepted it before under this key.
        Raises DeliveryFailed (permanent or not) when it did not."""
        key = idempotency_key
        if self.keys is not None and key is not None and await self.keys.accepted_before(key):
            return False
        try:
            to = ascii_address(address)
            data = to_bytes(build(message, to, self.mail_from, key, self.now()), self.dkim)
        except (ValueError, TypeError, email.errors.MessageError) as exc:
            raise DeliveryFailed(f"message cannot be written: {describe(exc)}", True) from exc
        await self._transact(to, data)
        if self.keys is not None and key is not None:
            await self.keys.accepted(key)
        return True

    async def _transact(self, address: str, data: bytes) -> None:
        for fresh in (False, True):
            at = _Progress()
            try:
                async with self.pool.lease(fresh=fresh) as lease:
                    at.reused = lease.reused
                    await self._transaction(lease, address, data, at)
                return
            except Exception as exc:
                if at.reused and at.stage is Stage.MAIL and _dropped(exc):
                    continue  # the relay had closed the idle connection: nothing was said yet
                raise failure(exc, at.stage) from exc

    async def _transaction(self, lease: Lease, address: str, data: bytes, at: _Progress) -> None:
        smtp = lease.smtp
        at.stage = Stage.MAIL
        await smtp.mail(self.mail_from.address)
        at.stage = Stage.RCPT
        await smtp.rcpt(address)
        at.stage = Stage.DATA
        await smtp.data(data)
        lease.keep = True

    async def aclose(self) -> None:
        await self.pool.aclose(self.settings.smtp_timeout_s)

    async def _connect(self) -> SMTP:
        s = self.settings
        smtp = SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            local_hostname=s.smtp_helo_name or self.mail_from.domain,
            timeout=s.smtp_timeout_s,
            use_tls=s.smtp_tls == "implicit",
            start_tls=s.smtp_tls == "starttls",  # required: never on in clear instead
            tls_context=self.tls,
        )
        await smtp.connect()
        try:
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp


@dataclass
class _Progress:
    stage: Stage = Stage.CONNECT
    reused: bool = False


def _dropped(exc: Exception) -> bool:
    """The connection was gone (closed, or 421: the relay closing it) before the message."""
    if isinstance(exc, SMTPResponseException):
        return exc.code == 421
    return isinstance(exc, SMTPServerDisconnected | ConnectionError)


def _tls_context(s: MailSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)


def _dkim_key(s: MailSettings, mail_from: MailFrom) -> DkimKey | None:
    """The signing key, tried once on a probe: a key that cannot sign stops the consumer at
    its start with the reason, not every message later."""
    if s.dkim_selector is None or s.dkim_key_file is None:
        return None
    try:
        key = DkimKey(
            s.dkim_selector, s.dkim_domain or mail_from.domain, s.dkim_key_file.read_bytes()
        )
        sign(b"From: probe@example.com\r\nSubject: probe\r\n\r\nprobe\r\n", key)
    except Exception as exc:
        raise TelebillError(f"TELEBILL_DKIM_KEY_FILE cannot sign: {describe(exc)}") from exc
    return key
