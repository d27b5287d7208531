"""What the relay said, in the delivery chain's terms (RFC 5321, section 4.2.1; the enhanced
status codes of RFC 3463).

A 4xx reply and a connection that failed, closed or timed out are transient: the channel
retries with its backoff. A 5xx reply about the member's mailbox or this message (RCPT, the
message's answer) is permanent: the next channel is tried at once. A 5xx about Telebill's own
setup is retried like any outage, so the chain does not send the whole month to SMS because
of a wrong password, sender or signing key: while connecting (greeting, EHLO, STARTTLS,
login), at MAIL FROM (530 authentication required, 553 sender not allowed), to the DATA
command itself, and at RCPT or to the message with an enhanced code 5.7.x (relaying denied,
DMARC, policy: the relay refuses this client or sender, not this recipient). The error is the
reply's code and text with addresses and phone numbers masked (relays quote the recipient).

Pure: no I/O.
"""

from __future__ import annotations

import re
from enum import Enum

from telebill.channels.base import DeliveryFailed
from telebill.channels.smtp_client import Command, SmtpError, SmtpReply
from telebill.domain.redact import redact
from telebill.resilience import describe


class Stage(Enum):
    QUEUED = "waiting for a connection"  # for a slot of the pool: nothing said yet
    CONNECT = "connecting"  # greeting, EHLO, STARTTLS or TLS, login
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"


def stage_of(command: Command) -> Stage:
    """The stage a connection waiting for `command`'s reply is at."""
    return {
        Command.CONNECT: Stage.CONNECT,
        Command.MAIL: Stage.MAIL,
        Command.RCPT: Stage.RCPT,
        Command.DATA: Stage.DATA,
        Command.MESSAGE: Stage.DATA,
        Command.OTHER: Stage.MAIL,  # RSET, between a refusal and the next MAIL
    }[command]


def failure(exc: Exception, stage: Stage) -> DeliveryFailed:
    """The DeliveryFailed that `exc`, raised at `stage` of one message, stands for."""
    where = stage.value
    if isinstance(exc, SmtpReply):
        permanent = 500 <= exc.code <= 599 and _about_the_member(exc.command, exc.text)
        text = redact(" ".join(exc.text.split()), 300)
        return DeliveryFailed(f"SMTP {exc.code} at {where}: {text}", permanent=permanent)
    if isinstance(exc, TimeoutError):
        return DeliveryFailed(f"relay timed out at {where}")
    if isinstance(exc, ConnectionError | OSError):  # SmtpClosed is a ConnectionError
        # At DATA the relay may have taken the message before the line dropped (RFC 1047):
        # it is sent again under the same Message-ID, which lets the receiver fold the two.
        return DeliveryFailed(f"relay connection lost at {where}: {describe(exc)}")
    if isinstance(exc, ValueError):  # UnicodeError too
        # at RCPT or DATA: the member's address or message, which SMTP cannot carry;
        # before (the HELO name, the sender, the TLS server name): the setup
        permanent = stage in (Stage.RCPT, Stage.DATA)
        return DeliveryFailed(f"cannot be sent at {where}: {describe(exc)}", permanent=permanent)
    if isinstance(exc, SmtpError):
        return DeliveryFailed(f"relay error at {where}: {describe(exc)}")
    return DeliveryFailed(f"SMTP call failed at {where}: {describe(exc)}")


# An enhanced status code at the start of a reply's text: class.subject.detail (RFC 3463).
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


def _about_the_member(command: Command, text: str) -> bool:
    """Whether a 5xx to `command` refuses the member's mailbox or message, not Telebill:
    at RCPT or to the message, unless its enhanced code is 5.7.x (relaying denied, policy:
    DMARC, an unauthenticated or unknown sender, a signature that does not verify, which
    would refuse every member's message alike)."""
    if command not in (Command.RCPT, Command.MESSAGE):
        return False  # connecting, MAIL FROM, or the DATA command itself (no recipient left)
    code = _ENHANCED.match(text)
    return code is None or code.group(2) != "7"
