"""The relay's answers in the chain's terms (telebill/channels/smtp_replies.py), without a
relay: 4xx and lost connections retry, 5xx about the member's mailbox or message goes to the
next channel, 5xx about Telebill's setup (connecting, MAIL FROM, 5.7.x at RCPT) retries, and
what is kept names no one."""

from __future__ import annotations

import pytest
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectError,
    SMTPConnectResponseError,
    SMTPDataError,
    SMTPException,
    SMTPReadTimeoutError,
    SMTPRecipientRefused,
    SMTPSenderRefused,
    SMTPServerDisconnected,
)

from telebill.channels.smtp_replies import Stage, failure

CASES = [
    (SMTPRecipientRefused(451, "4.3.0 try later", "a@b.kr"), Stage.RCPT, False),
    (SMTPRecipientRefused(421, "4.3.2 closing", "a@b.kr"), Stage.RCPT, False),
    (SMTPRecipientRefused(550, "5.1.1 no such user", "a@b.kr"), Stage.RCPT, True),
    (SMTPRecipientRefused(550, "5.7.1 no such user here", "a@b.kr"), Stage.RCPT, False),
    (SMTPRecipientRefused(554, "5.7.1 <a@b.kr>: Relay access denied", "a"), Stage.RCPT, False),
    (SMTPRecipientRefused(553, "5.1.3 bad address syntax", "a@b.kr"), Stage.RCPT, True),
    (SMTPRecipientRefused(550, "no enhanced code", "a@b.kr"), Stage.RCPT, True),
    # MAIL FROM refused: Telebill's sender or login, not the member's
    (SMTPSenderRefused(553, "5.7.1 sender not allowed", "bill@x"), Stage.MAIL, False),
    (SMTPSenderRefused(530, "5.7.0 authentication required", "bill@x"), Stage.MAIL, False),
    (SMTPDataError(554, "5.7.1 message refused by policy"), Stage.DATA, True),
    (SMTPDataError(552, "5.3.4 message too big"), Stage.DATA, True),
    (SMTPDataError(451, "4.3.0 queue full"), Stage.DATA, False),
    (SMTPConnectResponseError(421, "4.3.2 too many connections"), Stage.CONNECT, False),
    (SMTPConnectResponseError(554, "5.7.1 no service for you"), Stage.CONNECT, False),
    (SMTPAuthenticationError(535, "5.7.8 bad credentials"), Stage.CONNECT, False),
    (SMTPServerDisconnected("Connection lost"), Stage.DATA, False),
    (SMTPConnectError("Error connecting to 127.0.0.1 on port 25"), Stage.CONNECT, False),
    (SMTPReadTimeoutError("Timed out waiting for server response"), Stage.RCPT, False),
    (ConnectionResetError(104, "reset by peer"), Stage.MAIL, False),
    (SMTPException("something odd"), Stage.MAIL, False),
    (ValueError("address contains CR"), Stage.RCPT, True),
    # the HELO name or TLS server name cannot be encoded: the setup, not the member
    (UnicodeError("label empty or too long"), Stage.CONNECT, False),
    (ValueError("server_hostname cannot be an empty string"), Stage.CONNECT, False),
    (ValueError("sender contains CR"), Stage.MAIL, False),
]


@pytest.mark.parametrize(("exc", "stage", "permanent"), CASES, ids=lambda c: str(c)[:40])
def test_mapping(exc: Exception, stage: Stage, permanent: bool) -> None:
    assert failure(exc, stage).permanent is permanent


def test_reply_text_is_kept_without_addresses_or_numbers() -> None:
    refused = SMTPRecipientRefused(
        550, "5.1.1 <kim.minsu@example.co.kr>: unknown;\r\n call 010-9876-5432", "x"
    )
    text = str(failure(refused, Stage.RCPT))
    assert text == "SMTP 550 at RCPT TO: 5.1.1 <<email>>: unknown; call <phone>"
    assert str(failure(SMTPReadTimeoutError("t"), Stage.DATA)) == "relay timed out at DATA"
