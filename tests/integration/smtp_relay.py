"""An SMTP relay in the test's own event loop (aiosmtpd), scripted per recipient.

Each RCPT of an address takes the next reply of the address's script (its last reply repeats;
an address with none is accepted): an SMTP reply line ("451 4.3.0 busy"), `DROP` (the
connection closed instead of an answer) or `DROP_AT_DATA` (the recipient taken, the connection
closed once the message has arrived, before the 250: the relay never took it). What the relay
took (a 250 after DATA) is kept, parsed, in `accepted`; `data_delay` holds each message that
long before its answer (a send in progress). And a sender pointed at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from telebill.channels import channel
from telebill.channels.base import DeliveryFailed, RenderedMessage
from telebill.channels.smtp_sender import SmtpSender
from telebill.settings.mail import MailSettings

DROP = "drop"
DROP_AT_DATA = "drop at data"
KEY = "41:MONTHLY_BILL"


@dataclass
class ScriptedRelay:
    scripts: dict[str, list[str]] = field(default_factory=dict)
    rcpts: Counter[str] = field(default_factory=Counter)  # RCPTs seen per address
    accepted: list[EmailMessage] = field(default_factory=list)
    sessions: list[SMTP] = field(default_factory=list)  # one per connection made
    data_delay: float = 0.0  # seconds between a message's arrival and the relay's answer
    pipelining: bool = True  # offered in EHLO (RFC 2920), as Postfix does

    def script(self, address: str, *replies: str) -> None:
        self.scripts[address] = list(replies)

    def accepted_ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.accepted)

    def drop_all(self) -> None:
        """Close every connection from the relay's side (as a relay closes idle ones)."""
        for session in self.sessions:
            if session.transport is not None:
                session.transport.close()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, lines: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*lines[:1], "250-PIPELINING", *lines[1:]] if self.pipelining else lines

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, _: list[str]
    ) -> str:
        script = self.scripts.get(address, ["250 OK"])
        reply = script[min(self.rcpts[address], len(script) - 1)]
        self.rcpts[address] += 1
        if reply == DROP:
            assert server.transport is not None
            server.transport.close()
            return "421 never sent: the connection is closed"
        if reply == DROP_AT_DATA or reply.startswith("2"):
            envelope.rcpt_tos.append(address)  # a refused recipient is not one
        return "250 OK" if reply == DROP_AT_DATA else reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        (address,) = envelope.rcpt_tos
        script = self.scripts.get(address, ["250 OK"])
        if script[min(self.rcpts[address] - 1, len(script) - 1)] == DROP_AT_DATA:
            assert server.transport is not None
            server.transport.close()
            return "421 never sent: the connection is closed"
        await asyncio.sleep(self.data_delay)
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.accepted.append(parsed)
        return "250 2.0.0 queued"


Authenticator = Callable[[SMTP, Session, Envelope, str, Any], AuthResult]


def password_check(user: str, password: str) -> Authenticator:
    def check(
        server: SMTP, session: Session, envelope: Envelope, mech: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    return check


@contextlib.asynccontextmanager
async def relay_running(
    relay: ScriptedRelay,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    authenticator: Authenticator | None = None,
) -> AsyncIterator[int]:
    """The relay listening on a free loopback port (yielded) until the block ends."""

    def session() -> SMTP:
        with warnings.catch_warnings():  # on implicit TLS, that AUTH does not require STARTTLS
            warnings.simplefilter("ignore", UserWarning)
            made = SMTP(
                relay,
                hostname="relay.test",
                tls_context=starttls,
                require_starttls=starttls is not None,
                authenticator=authenticator,
                auth_required=authenticator is not None,
                auth_require_tls=implicit_tls is None,  # implicit TLS: aiosmtpd cannot tell
            )
        relay.sessions.append(made)
        return made

    server = await asyncio.get_running_loop().create_server(
        session, "127.0.0.1", 0, ssl=implicit_tls
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        relay.drop_all()
        await server.wait_closed()


def sample_email() -> RenderedMessage:
    """The e-mail template's sample bill: Korean subject, text and HTML."""
    email = channel("email")
    return email.validate(email.default_template())


def sender_for(port: int, connections: int = 4, **settings: Any) -> SmtpSender:
    """An SMTP sender for the relay on `port` (no delivery keys), as `settings` say."""
    mail = MailSettings(email_provider="smtp", smtp_port=port, **{"smtp_timeout_s": 5} | settings)
    return SmtpSender(mail, connections, lambda: datetime.now(UTC))


async def failure_of(sender: SmtpSender, to: str, message: RenderedMessage) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        await sender.send(to, message, f"{to}:MONTHLY_BILL")
    return caught.value
