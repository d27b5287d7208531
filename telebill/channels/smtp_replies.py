"""What the relay said, in the delivery chain's terms (RFC 5321, section 4.2.1).

A 4xx reply and a connection that failed, closed or timed out are transient: the channel
retries with its backoff. A 5xx reply to the message's own transaction (MAIL, RCPT, DATA) is
permanent: the next channel is tried at once. A 5xx while connecting (greeting, EHLO,
STARTTLS, login) says the relay refuses this client, not this message, so the message is
retried like any outage: the chain must not send the whole month to SMS because of a wrong
password. The error is the reply's code and text with addresses and phone numbers masked
(relays quote the recipient).

Pure: no I/O.
"""

from __future__ import annotations

from enum import Enum

from aiosmtplib import (
    SMTPException,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from telebill.channels.base import DeliveryFailed
from telebill.domain.redact import redact
from telebill.resilience import describe


class Stage(Enum):
    CONNECT = "connecting"  # greeting, EHLO, STARTTLS or TLS, login
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"


def failure(exc: Exception, stage: Stage) -> DeliveryFailed:
    """The DeliveryFailed that `exc`, raised at `stage` of one message, stands for."""
    where = stage.value
    if isinstance(exc, SMTPResponseException):
        permanent = 500 <= exc.code <= 599 and stage is not Stage.CONNECT
        text = redact(" ".join(exc.message.split()), 300)
        return DeliveryFailed(f"SMTP {exc.code} at {where}: {text}", permanent=permanent)
    if isinstance(exc, SMTPTimeoutError | TimeoutError):
        return DeliveryFailed(f"relay timed out at {where}")
    if isinstance(exc, SMTPServerDisconnected | ConnectionError | OSError):
        # At DATA the relay may have taken the message before the line dropped (RFC 1047):
        # it is sent again under the same Message-ID, which lets the receiver fold the two.
        return DeliveryFailed(f"relay connection lost at {where}: {describe(exc)}")
    if isinstance(exc, ValueError):  # an address aiosmtplib will not put on the wire
        return DeliveryFailed(f"address cannot be sent: {describe(exc)}", permanent=True)
    if isinstance(exc, SMTPException):
        return DeliveryFailed(f"relay error at {where}: {describe(exc)}")
    return DeliveryFailed(f"SMTP call failed at {where}: {describe(exc)}")
