"""The e-mail as the SMTP provider puts it on the wire (telebill/channels/smtp_message.py):
parsed back as a mail client would, both parts are the template's, the Korean subject and
sender's name read as written, the Message-ID follows the delivery key, and a DKIM signature
(key made here) verifies, and stops verifying once the bill is altered."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebill.channels import channel
from telebill.channels.base import RenderedMessage
from telebill.channels.smtp_message import (
    PLAIN_ADDRESS,
    WIRE,
    DkimKey,
    MailFrom,
    addr_spec,
    ascii_address,
    build,
    message_id,
    to_bytes,
)

SENDER = MailFrom("bill@telebill.example", "텔레빌 고객센터")
AT = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rendered() -> RenderedMessage:
    email = channel("email")
    return email.validate(email.default_template())  # the sample bill, Korean throughout


def parse(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_both_parts_and_korean_headers_read_back(rendered: RenderedMessage) -> None:
    data = to_bytes(build(rendered, "member@example.com", SENDER, "41:MONTHLY_BILL", AT))
    head, _, _ = data.partition(b"\r\n\r\n")
    assert head.isascii()  # RFC 2047 encoded words: any relay carries it
    assert max(len(line) for line in data.split(b"\r\n")) <= 78  # folded, bodies encoded
    parsed = parse(data)
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and html is not None
    # MIME's text is in CRLF lines (RFC 2046); the template's are LF
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert html.get_content().replace("\r\n", "\n") == rendered.body
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert rendered.subject is not None and "청구서" in rendered.subject
    assert parsed["Subject"] == rendered.subject
    (sender,) = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("텔레빌 고객센터", "bill@telebill.example")
    assert parsed["To"].addresses[0].addr_spec == "member@example.com"
    assert parsed["Date"].datetime == AT


def test_message_id_follows_the_delivery_key(rendered: RenderedMessage) -> None:
    first = build(rendered, "a@example.com", SENDER, "41:MONTHLY_BILL", AT)
    again = build(rendered, "a@example.com", SENDER, "41:MONTHLY_BILL", datetime.now(UTC))
    other = build(rendered, "a@example.com", SENDER, "42:MONTHLY_BILL", AT)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"] == message_id("41:MONTHLY_BILL", "telebill.example")
    assert str(first["Message-ID"]).endswith("@telebill.example>")
    assert "41" not in str(first["Message-ID"]).split("@")[0]  # the bill's id is not shown
    parsed = parse(to_bytes(first))
    assert parsed["Message-ID"] == first["Message-ID"]
    assert message_id(None, "x.example") != message_id(None, "x.example")  # no key: unique


def test_an_address_that_would_add_a_header_is_refused(rendered: RenderedMessage) -> None:
    with pytest.raises(ValueError):
        build(rendered, "a@example.com\r\nBcc: all@example.com", SENDER, "k", AT)
    with pytest.raises(ValueError):
        build(rendered, "a@example.com", MailFrom("b@x.example\nBcc: c@x.example", "n"), "k", AT)


def test_a_subject_or_name_with_line_breaks_adds_no_header(rendered: RenderedMessage) -> None:
    """The generator writes what it is given: line breaks in the subject or the sender's name
    must travel inside encoded words, never as the start of a header of their own."""
    hostile = replace(rendered, subject="청구서\r\nBcc: all@example.com\nX-Evil: 1")
    parsed = parse(to_bytes(build(hostile, "a@example.com", SENDER, "k", AT)))
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["Subject"].startswith("청구서") and "Bcc" in parsed["Subject"]
    for name in ("텔레빌\r\nBcc: all@example.com", "Bill\nX-Evil: 1", "Bill\rX: 1"):
        with pytest.raises(ValueError, match="control character"):
            build(rendered, "a@example.com", MailFrom("bill@telebill.example", name), "k", AT)


def test_unicode_domains_go_as_idna_unicode_mailboxes_are_refused() -> None:
    assert ascii_address("kim@테스트.한국") == "kim@xn--9t4b11yi5a.xn--3e0b707e"
    assert ascii_address("kim@example.com") == "kim@example.com"
    with pytest.raises(ValueError, match="SMTPUTF8"):
        ascii_address("김민수@example.kr")


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[DkimKey, bytes]:
    """A fresh 2048-bit RSA key and the DNS TXT record that publishes it."""
    folder: Path = tmp_path_factory.mktemp("dkim")
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    return DkimKey("s2026", "telebill.example", key.read_bytes()), record


def test_dkim_signature_verifies(
    rendered: RenderedMessage, dkim_key: tuple[DkimKey, bytes]
) -> None:
    key, record = dkim_key

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"s2026._domainkey.telebill.example." else None

    data = to_bytes(build(rendered, "member@example.com", SENDER, "41:MONTHLY_BILL", AT), key)
    assert data.startswith(b"DKIM-Signature: ")
    parsed = parse(data)
    tags = dict(
        t.strip().split("=", 1) for t in " ".join(parsed["DKIM-Signature"].split()).split(";")
    )
    assert (tags["d"], tags["s"], tags["c"]) == ("telebill.example", "s2026", "relaxed/relaxed")
    assert "from" in tags["h"].lower() and "subject" in tags["h"].lower()
    assert dkim.verify(data, dnsfunc=dns)
    assert not dkim.verify(data.replace(b"Subject: ", b"Subject: Re: ", 1), dnsfunc=dns)
    assert not dkim.verify(data + b"P.S. pay twice\r\n", dnsfunc=dns)


@given(
    subject=st.text(max_size=300),
    body=st.text(max_size=2_000),
    text=st.text(max_size=2_000),
)
@settings(max_examples=150, deadline=None)
def test_any_subject_and_parts_read_back_as_written(
    rendered: RenderedMessage, subject: str, body: str, text: str
) -> None:
    """Whatever a template renders (any text in its parts, line breaks and control characters
    too; the subject on one line, as the e-mail channel makes it), the message carries exactly
    it, in ASCII headers folded to 78 characters, and no header but its own."""
    subject, body, text = (t.encode("utf-8", "replace").decode() for t in (subject, body, text))
    subject = " ".join(subject.split())  # as the e-mail channel renders every subject
    message = replace(rendered, subject=subject, body=body, text=text)
    data = to_bytes(build(message, "a@example.com", SENDER, "k", AT))
    head = data.partition(b"\r\n\r\n")[0]
    assert head.isascii() and max(len(line) for line in head.split(b"\r\n")) <= 78
    parsed = parse(data)
    names = {k.lower() for k in parsed.keys()}  # noqa: SIM118  (Message: no __iter__ of names)
    assert names == {"content-type", "mime-version", "from", "to", "subject", "date", "message-id"}
    assert parsed["Subject"] == subject
    canonical = [t.replace("\r\n", "\n") for t in (text, body)]
    read = [p.get_content().replace("\r\n", "\n") for p in parsed.iter_parts()]
    assert read == canonical


HEADER_NAMES = st.sampled_from(["To", "Date", "Message-ID", "Content-Type", "X-Long-Header-Name"])


@given(HEADER_NAMES, st.text(max_size=90) | st.text(alphabet=" =?abcQ\t-_.@<>\"'", max_size=90))
@settings(max_examples=400, deadline=None)
def test_a_header_passed_through_is_what_compat32_folds(name: str, value: str) -> None:
    """The wire policy's short cut for short plain headers writes what compat32 would."""
    compat32 = policy.compat32.clone(linesep="\r\n")
    assert WIRE.fold_binary(name, value) == compat32.fold_binary(name, value)
    assert WIRE.fold(name, value) == compat32.fold(name, value)


def test_the_multipart_boundary_is_in_no_part(rendered: RenderedMessage) -> None:
    msg = build(rendered, "kim@example.kr", SENDER, "7:MONTHLY_BILL", AT)
    boundary = msg.get_boundary()
    assert boundary is not None and boundary.startswith("=_")
    body = to_bytes(msg).split(b"\r\n\r\n", 1)[1]
    # the boundary's lines only: between, before each part and at the end
    assert body.count(boundary.encode()) == 3
    assert build(rendered, "kim@example.kr", SENDER, "7:MONTHLY_BILL", AT).get_boundary() != (
        boundary
    )


@given(st.emails() | st.from_regex(r"[a-z.]{1,8}@[a-z0-9.-]{1,12}", fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_a_plain_address_is_what_the_header_parser_makes_of_it(address: str) -> None:
    """addr_spec's short cut takes only what `Address` would take, unchanged."""
    if PLAIN_ADDRESS.fullmatch(address):
        assert Address(addr_spec=address).addr_spec == address == addr_spec(address)
