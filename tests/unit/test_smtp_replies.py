"""The relay's answers in the chain's terms (telebill/channels/smtp_replies.py), without a
relay: 4xx and lost connections retry, 5xx about the member's mailbox or message goes to the
next channel, 5xx about Telebill's setup (connecting, MAIL FROM, 5.7.x at RCPT) retries, and
what is kept names no one."""

from __future__ import annotations

import ssl

import pytest

from telebill.channels.smtp_client import Command, SmtpClosed, SmtpError, SmtpReply
from telebill.channels.smtp_replies import Stage, failure


def reply(code: int, text: str, command: Command) -> SmtpReply:
    return SmtpReply(code, text, command)


M, R, D, C = Command.MAIL, Command.RCPT, Command.DATA, Command.CONNECT
MSG = Command.MESSAGE  # the relay's answer to the message
CASES = [
    (reply(451, "4.3.0 try later", R), Stage.RCPT, False),
    (reply(421, "4.3.2 closing", R), Stage.RCPT, False),
    (reply(550, "5.1.1 no such user", R), Stage.RCPT, True),
    (reply(550, "5.7.1 no such user here", R), Stage.RCPT, False),
    (reply(554, "5.7.1 <a@b.kr>: Relay access denied", R), Stage.RCPT, False),
    (reply(553, "5.1.3 bad address syntax", R), Stage.RCPT, True),
    (reply(550, "no enhanced code", R), Stage.RCPT, True),
    # MAIL FROM refused: Telebill's sender or login, not the member's
    (reply(553, "5.7.1 sender not allowed", M), Stage.MAIL, False),
    (reply(530, "5.7.0 authentication required", M), Stage.MAIL, False),
    (reply(552, "5.3.4 message too big", MSG), Stage.DATA, True),
    (reply(550, "5.6.0 content refused", MSG), Stage.DATA, True),
    (reply(554, "no enhanced code", MSG), Stage.DATA, True),
    (reply(451, "4.3.0 queue full", MSG), Stage.DATA, False),
    # Telebill's sender or signature refused: every member's message would be
    (
        reply(550, "5.7.26 unauthenticated email from telebill.example (DMARC)", MSG),
        Stage.DATA,
        False,
    ),
    (reply(554, "5.7.1 message refused by policy", MSG), Stage.DATA, False),
    # the DATA command itself refused: its recipient was taken, so not the member's doing
    (reply(554, "5.5.1 no valid recipients", D), Stage.DATA, False),
    (reply(421, "4.3.2 too many connections", C), Stage.CONNECT, False),
    (reply(554, "5.7.1 no service for you", C), Stage.CONNECT, False),
    (reply(535, "5.7.8 bad credentials", C), Stage.CONNECT, False),
    (SmtpClosed("the relay closed the connection"), Stage.DATA, False),
    (ConnectionRefusedError(111, "Connection refused"), Stage.CONNECT, False),
    (ssl.SSLCertVerificationError("certificate verify failed"), Stage.CONNECT, False),
    (TimeoutError(), Stage.RCPT, False),
    (ConnectionResetError(104, "reset by peer"), Stage.MAIL, False),
    (SmtpError("not an SMTP reply: 'hello'"), Stage.MAIL, False),
    (SmtpError("the relay does not offer STARTTLS"), Stage.CONNECT, False),
    (ValueError("a line break in an SMTP command's argument"), Stage.RCPT, True),
    # the HELO name or TLS server name cannot be encoded: the setup, not the member
    (UnicodeError("label empty or too long"), Stage.CONNECT, False),
    (ValueError("server_hostname cannot be an empty string"), Stage.CONNECT, False),
    (ValueError("sender contains CR"), Stage.MAIL, False),
]


@pytest.mark.parametrize(("exc", "stage", "permanent"), CASES, ids=lambda c: str(c)[:40])
def test_mapping(exc: Exception, stage: Stage, permanent: bool) -> None:
    assert failure(exc, stage).permanent is permanent


def test_reply_text_is_kept_without_addresses_or_numbers() -> None:
    refused = reply(550, "5.1.1 <kim.minsu@example.co.kr>: unknown;\n call 010-9876-5432", R)
    text = str(failure(refused, Stage.RCPT))
    assert text == "SMTP 550 at RCPT TO: 5.1.1 <<email>>: unknown; call <phone>"
    assert str(failure(TimeoutError(), Stage.DATA)) == "relay timed out at DATA"
