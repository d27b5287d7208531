"""A rendered e-mail as the bytes an SMTP relay is given: MIME built by the standard library's
`email` package (multipart/alternative: the text, then the HTML, as RFC 2046 orders them from
plainest to richest), headers encoded as RFC 2047 and RFC 5322 say, a Message-ID derived from
the delivery key, and optionally a DKIM signature.

Pure: no I/O (the DKIM key is read by the caller).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from telebill.channels.base import RenderedMessage


@dataclass(frozen=True)
class MailFrom:
    address: str
    name: str  # the display name, e.g. Korean: encoded as RFC 2047 words where it must be

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class DkimKey:
    selector: str
    domain: str
    private_pem: bytes  # RSA, PKCS#1 or PKCS#8


def message_id(key: str | None, domain: str) -> str:
    """The same delivery key gives the same Message-ID, so a message sent again (a relay that
    accepted it while the consumer died) is recognisably the same one, and mail clients and
    archives fold the two. Hashed: the id says nothing of the bill, and any key fits the
    syntax."""
    if key is None:  # a send outside the delivery chain (none today): unique, as usual
        return make_msgid(domain=domain)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}.bill@{domain}>"


def build(
    message: RenderedMessage, to: str, sender: MailFrom, key: str | None, date: datetime
) -> EmailMessage:
    """The MIME message; raises ValueError for an address or header that cannot be written,
    which no retry mends."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    msg["To"] = Address(addr_spec=ascii_address(to))
    msg["Subject"] = message.subject or ""
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id(key, sender.domain)
    if message.text is None:  # a channel with no text alternative: the HTML alone
        msg.set_content(message.body, subtype="html", charset="utf-8")
    else:
        msg.set_content(message.text, charset="utf-8")
        msg.add_alternative(message.body, subtype="html", charset="utf-8")
    return msg


def ascii_address(address: str) -> str:
    """`address` as plain SMTP carries it: a domain in Unicode as its IDNA (xn--) form. A
    local part in Unicode needs SMTPUTF8 (RFC 6531) all the way to the mailbox, which no
    relay can promise: it is refused (the chain's next channel takes the bill)."""
    local, at, domain = address.rpartition("@")
    if not local.isascii():
        raise ValueError("the mailbox name is not ASCII (it would need SMTPUTF8)")
    if at and not domain.isascii():
        domain = domain.encode("idna").decode("ascii")  # UnicodeError is a ValueError
    return f"{local}{at}{domain}"


def to_bytes(msg: EmailMessage, dkim_key: DkimKey | None = None) -> bytes:
    """The message as it goes on the wire (CRLF line ends), signed when a key is given."""
    data = msg.as_bytes()
    return data if dkim_key is None else sign(data, dkim_key)


def sign(data: bytes, key: DkimKey) -> bytes:
    """`data` with a DKIM-Signature header on top (rsa-sha256, relaxed/relaxed: the
    canonicalisation that survives relays re-folding headers and re-wrapping whitespace)."""
    # lazy: dkimpy, ~0.06 s of every process's start (the channel registry imports this
    # module), for the installations that sign only
    import dkim

    header: bytes = dkim.sign(
        data,
        key.selector.encode(),
        key.domain.encode(),
        key.private_pem,
        canonicalize=(b"relaxed", b"relaxed"),
    )
    return header + data
