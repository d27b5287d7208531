"""A rendered e-mail as the bytes an SMTP relay is given: MIME built by the standard library's
`email` package (multipart/alternative: the text, then the HTML, as RFC 2046 orders them from
plainest to richest), headers encoded as RFC 2047 and RFC 5322 say, a Message-ID derived from
the delivery key, and optionally a DKIM signature.

Pure: no I/O (the DKIM key is read by the caller).
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime
from email.charset import Charset
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any, cast

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


UTF8 = Charset("utf-8")  # headers: encoded words where needed


class _Wire(Compat32):
    """compat32 in CRLF lines, passing a short header of printable ASCII through as it is:
    folding every header through `Header.encode` was a third of a message's build, and for
    such a header it writes the value unchanged (tests/unit/test_smtp_message.py)."""

    def fold(self, name: str, value: str) -> str:
        return _unfolded(name, value, self.linesep) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        plain = _unfolded(name, value, self.linesep)
        return plain.encode("ascii") if plain else super().fold_binary(name, value)


def _unfolded(name: str, value: Any, linesep: str) -> str | None:
    """The header's line when it needs neither folding nor encoding, else None."""
    if (
        isinstance(value, str)
        and value.isascii()
        and value.isprintable()
        and len(name) + 2 + len(value) <= FOLD_AT
    ):
        return f"{name}: {value}{linesep}"
    return None


FOLD_AT = 78  # RFC 5322 2.1.1: lines of at most 78 characters, CRLF left out
WIRE = _Wire(linesep="\r\n")


def build(
    message: RenderedMessage, to: str, sender: MailFrom, key: str | None, date: datetime
) -> Message:
    """The MIME message; raises ValueError for an address or header that cannot be written,
    which no retry mends.

    Built with the `email` package's MIME classes and written by its compat32 generator
    rather than by `EmailMessage` and its header registry: the same message (RFC 2047
    headers, base64 parts) in under a millisecond instead of four, which was most of a
    consumer's CPU per e-mail into a local relay (bench/smtp.py). That generator does not
    check what it writes, so every header value is checked or encoded here: the addresses
    parse as one address each (no CR or LF can add a header), the subject and the sender's
    name go as encoded words."""
    recipient = addr_spec(ascii_address(to))
    sender_address = addr_spec(sender.address)
    if not sender.name.isprintable():  # a line break would end the From header early
        raise ValueError("the sender's name has a control character (TELEBILL_EMAIL_FROM_NAME)")
    if message.text is None:  # a channel with no text alternative: the HTML alone
        msg: Message = _text(message.body, "html")
    else:
        msg = MIMEMultipart("alternative")
        msg.attach(_text(message.text, "plain"))
        msg.attach(_text(message.body, "html"))
    msg["From"] = formataddr((sender.name, sender_address), charset=UTF8)
    msg["To"] = recipient
    # a Header, folded by the generator (typeshed says str; compat32 takes both)
    msg["Subject"] = cast(str, Header(message.subject or "", UTF8, header_name="Subject"))
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id(key, sender.domain)
    if isinstance(msg, MIMEMultipart):
        # Of our own, so that the generator does not make one and compile a regex to look
        # for it in the parts (a tenth of the build): `_` is in no base64 line, and the parts'
        # headers are ours, so it appears nowhere else (RFC 2046 5.1.1).
        msg.set_boundary(f"=_{random.getrandbits(128):032x}")  # unique, not secret
    return msg


# RFC 5322 3.4.1: a dot-atom local part at a domain of LDH labels, the addresses nearly every
# member has: those `Address` would take unchanged, at a tenth of its parser's cost
PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*"
)


def addr_spec(address: str) -> str:
    """`address` as one addr-spec; ValueError when it is not exactly one address."""
    if PLAIN_ADDRESS.fullmatch(address):
        return address
    return Address(addr_spec=address).addr_spec


def _text(content: str, subtype: str) -> MIMENonMultipart:
    """A text part in base64, encoded by the C codec in 76-character lines (the `email`
    package's own encoder is a Python loop over the bytes)."""
    # in CRLF lines before encoding: text in base64 is in its canonical form (RFC 2046 4.1.1)
    lines = content.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    del part["MIME-Version"]  # once, on the message: not repeated on each part
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(lines).decode("ascii"))
    return part


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


def to_bytes(msg: Message, dkim_key: DkimKey | None = None) -> bytes:
    """The message as it goes on the wire (CRLF line ends), signed when a key is given."""
    data = msg.as_bytes(policy=WIRE)
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
