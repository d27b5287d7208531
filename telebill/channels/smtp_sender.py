"""The e-mail channel's provider when it is a real relay (TELEBILL_EMAIL_PROVIDER=smtp): each
message built (telebill/channels/smtp_message.py), sent in one SMTP transaction over a pooled
connection (smtp_pool.py), the relay's answer turned into the chain's terms (smtp_replies.py),
and its delivery key claimed before it goes out and kept once the relay took it (smtp_keys.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.errors
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from telebill.channels.base import DeliveryFailed, RenderedMessage
from telebill.channels.smtp_client import (
    Command,
    Login,
    SmtpClosed,
    SmtpConnection,
    SmtpReply,
    connect,
)
from telebill.channels.smtp_keys import Claim, RelayKeys
from telebill.channels.smtp_message import (
    DkimKey,
    MailFrom,
    ascii_address,
    build,
    sign,
    to_bytes,
)
from telebill.channels.smtp_pool import Lease, SmtpPool
from telebill.channels.smtp_replies import Stage, failure, stage_of
from telebill.errors import TelebillError
from telebill.resilience import describe
from telebill.settings.mail import MailSettings

log = logging.getLogger(__name__)


def deadline_s(settings: MailSettings) -> float:
    """The longest one message may take, from waiting for a pool slot to the relay's answer:
    one timeout for the wait, two for the transaction (each command has its own timeout, but
    a relay answering every command just in time would otherwise hold the message for
    minutes)."""
    return 3 * settings.smtp_timeout_s


def abandoned_after_s(settings: MailSettings) -> float:
    """How old a claim on a delivery key is before it counts as abandoned (its process died
    mid-send): well beyond `deadline_s`, so a send still under way is never taken over."""
    return 10 * settings.smtp_timeout_s


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
        self.deadline_s = deadline_s(settings)
        self.redialled = 0  # idle connections found closed at MAIL and replaced (tests read it)
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
        try:
            to = ascii_address(address)
        except ValueError as exc:
            raise DeliveryFailed(f"message cannot be written: {describe(exc)}", True) from exc
        key = idempotency_key if self.keys is not None else None
        if self.keys is not None and key is not None:
            claim = await self.keys.claim(key)
            if claim is Claim.ACCEPTED_BEFORE:
                return False
            if claim is Claim.BEING_SENT:
                # Not delivered yet, maybe never (the other may be refused): retried later,
                # when the other's outcome is known.
                raise DeliveryFailed("being sent by another consumer")
        taken = False
        try:
            await self._send_in_time(to, message, key)
            taken = True
        finally:  # a refusal, an unknown outcome or a cancellation: a retry may send it
            if self.keys is not None and key is not None:
                await (self.keys.accepted(key) if taken else self.keys.release(key))
        return True

    async def _send_in_time(self, to: str, message: RenderedMessage, key: str | None) -> None:
        at = _Progress()
        try:
            async with asyncio.timeout(self.deadline_s):
                await self._transact(to, message, key, at)
        except TimeoutError as exc:  # the deadline's own; the commands' are DeliveryFailed
            raise DeliveryFailed(
                f"relay timed out at {at.stage.value} ({self.deadline_s:g} s per message)"
            ) from exc

    async def _transact(
        self, to: str, message: RenderedMessage, key: str | None, at: _Progress
    ) -> None:
        async with self.pool.slot():
            date = self.now()
            data: bytes | None = None
            for fresh in (False, True):
                at.stage, at.reused, at.connection = Stage.CONNECT, False, None
                try:
                    async with self.pool.lease(fresh=fresh) as lease:
                        at.reused = lease.reused
                        if data is None:
                            data = await self._write(message, to, key, date, lease)
                        at.connection = lease.smtp
                        await self._transaction(lease, to, data)
                    return
                except DeliveryFailed:
                    raise
                except Exception as exc:
                    # a refusal names its command: the RSET after it has moved the connection on
                    stage = stage_of(exc.command) if isinstance(exc, SmtpReply) else at.stage
                    if at.reused and stage is Stage.MAIL and _dropped(exc):
                        self.redialled += 1
                        continue  # the relay had closed the idle connection: nothing was said yet
                    raise failure(exc, stage) from exc

    async def _write(
        self, message: RenderedMessage, to: str, key: str | None, date: datetime, lease: Lease
    ) -> bytes:
        """The message's bytes, signed. Built once a slot and its connection are held, not
        for the whole batch up front: at most one message per connection is being built.
        Signed in a worker thread: DKIM takes milliseconds of CPU, which would stall every
        other send on the event loop; unsigned, it is built here, where the thread's round
        trip would cost more than the building (under a millisecond)."""
        try:
            if self.dkim is None:
                return self._bytes(message, to, key, date)
            return await asyncio.to_thread(self._bytes, message, to, key, date)
        except (ValueError, TypeError, email.errors.MessageError) as exc:
            lease.keep = True  # nothing was said on the connection: it is as good as before
            raise DeliveryFailed(f"message cannot be written: {describe(exc)}", True) from exc

    def _bytes(self, message: RenderedMessage, to: str, key: str | None, date: datetime) -> bytes:
        """(Pure, so it may run in a worker thread: the DKIM key was read at start.)"""
        return to_bytes(build(message, to, self.mail_from, key, date), self.dkim)

    async def _transaction(self, lease: Lease, address: str, data: bytes) -> None:
        try:
            await lease.smtp.transaction(self.mail_from.address, address, data)
        except SmtpReply as exc:
            # 421: the relay is closing the connection anyway
            if exc.command in (Command.MAIL, Command.RCPT) and exc.code != 421:
                await _reset(lease)
            raise
        lease.keep = True

    async def aclose(self) -> None:
        await self.pool.aclose()

    async def _connect(self) -> SmtpConnection:
        s = self.settings
        implicit = s.smtp_tls == "implicit"
        smtp = await connect(
            s.smtp_host, s.smtp_port, s.smtp_timeout_s, self.tls if implicit else None
        )
        try:
            await smtp.greet(
                s.smtp_helo_name or self.mail_from.domain,
                # required when set: never on in clear instead
                (self.tls, s.smtp_host) if self.tls and s.smtp_tls == "starttls" else None,
                _login(s),
            )
        except BaseException:
            smtp.close()
            raise
        return smtp


@dataclass
class _Progress:
    """Where one message is: the stage before its connection is held, then the command
    whose reply its connection waits for."""

    _stage: Stage = Stage.QUEUED
    reused: bool = False
    connection: SmtpConnection | None = None

    @property
    def stage(self) -> Stage:
        return self._stage if self.connection is None else stage_of(self.connection.awaiting)

    @stage.setter
    def stage(self, stage: Stage) -> None:
        self._stage = stage


def _login(s: MailSettings) -> Login | None:
    if not s.smtp_username:
        return None
    password = s.smtp_password.get_secret_value() if s.smtp_password else ""
    return Login(s.smtp_username, password)


async def _reset(lease: Lease) -> None:
    """RSET after a refused MAIL or RCPT: the connection is clean again and is kept for the
    next message (a refusal is about this message, not the connection). A failing RSET
    leaves it to be closed."""
    with contextlib.suppress(Exception):
        await lease.smtp.rset()
        lease.keep = True


def _dropped(exc: Exception) -> bool:
    """The connection was gone (closed, or 421: the relay closing it) before the message."""
    if isinstance(exc, SmtpReply):
        return exc.code == 421
    # ssl.SSLError: a TLS connection the relay closed while idle may end in a TLS alert
    return isinstance(exc, SmtpClosed | ConnectionError | ssl.SSLError)


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
