"""The e-mail channel into a real mail server: a settled month sent by `telebill consume email`
(TELEBILL_EMAIL_PROVIDER=smtp, DKIM on) into a private Debian Postfix that delivers into
Maildirs (tests/integration/postfix_relay.py). Each delivered file is read as a mail client
reads it: it parses, both parts are there, its HTML is the template's preview of that bill
(the admin API's preview), the Korean subject and sender's name decode, its DKIM signature
verifies; one file per bill sent by e-mail, no Message-ID twice, and Postfix saw the
commands pipelined (RFC 2920) without complaint. A few members' addresses are
unknown to the relay: its 550 sends those bills to SMS, and nothing of them is delivered.
Then `telebill web serve` serves each delivered message's "view in browser" link: every one
opens its own bill, and a few are opened in headless Chromium at a phone's size.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import dkim
import httpx
import pytest
from pydantic import SecretStr

from telebill.channels.links import PAGE_PATH
from telebill.channels.smtp_client import connect
from telebill.channels.smtp_message import message_id
from telebill.clock import offset_to
from telebill.config import Settings
from telebill.rendering.render import won
from telebill.service.deps import Deps
from telebill.service.templates import preview
from tests.helpers import eventually, free_low_ports
from tests.integration.bill_page_phone import opened_on_a_phone, view_in_browser
from tests.integration.conftest import Databases
from tests.integration.consumer_processes import Output, caught_up, spawn
from tests.integration.delivery_platform import Platform, event, platform_of
from tests.integration.postfix_relay import PostfixRelay, postfix_running, unavailable
from tests.integration.web_server import KEY, PRETEND, Billed, web_server

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

MEMBERS = 300
UNKNOWN = 3  # members 1–3: their addresses are not the relay's
SELECTOR = "s2026"


@pytest.fixture
async def month(databases: Databases, settings: Settings) -> AsyncIterator[Platform]:
    async with platform_of(databases, settings, MEMBERS) as made:
        # the messages' links point at a bill page of this test's own
        made.settings = made.settings.model_copy(
            update={
                "web_base_url": f"http://127.0.0.1:{free_low_ports(1)}",
                "web_link_key": SecretStr(KEY),
            }
        )
        yield made


def dkim_key(folder: Path) -> tuple[Path, bytes]:
    """A fresh RSA key and the DNS TXT record that would publish it."""
    key = folder / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


async def deliver_the_month(month: Platform, relay: PostfixRelay, key: Path) -> int:
    """Every bill published to the e-mail topic and handled by the real consumers (e-mail over
    SMTP into `relay`, SMS simulated), until each has its outcome, the groups committed it all,
    and the relay delivered what it took. Returns the bills delivered by e-mail."""
    smtp = {
        "TELEBILL_EMAIL_PROVIDER": "smtp",
        "TELEBILL_SMTP_HOST": "127.0.0.1",
        "TELEBILL_SMTP_PORT": str(relay.port),
        "TELEBILL_SMTP_TIMEOUT_S": "10",
        "TELEBILL_DKIM_SELECTOR": SELECTOR,
        "TELEBILL_DKIM_KEY_FILE": str(key),
    }
    c = month.conn
    processes = [spawn(month, "email", 0.05, **smtp), spawn(month, "sms", 0.01)]
    outs = [Output(p) for p in processes]
    bills = await c.fetch("SELECT id, member_id FROM bill")
    try:
        await month.publish_to(
            month.topics.channel("email"), *(event(b["id"], b["member_id"]) for b in bills)
        )

        async def settled() -> bool:
            done = "SELECT count(*) FROM notification WHERE status <> 'PENDING'"
            return bool(await c.fetchval(done) == len(bills))

        await eventually(settled, "every bill's outcome", within=120, alive=processes)
        await caught_up(month, ["email", "sms"], alive=processes)  # nothing left to send again
        by_email = "SELECT count(*) FROM notification WHERE status = 'DELIVERED_EMAIL'"
        e_mailed: int = await c.fetchval(by_email)

        async def drained() -> bool:
            assert not relay.deferred(), f"Postfix deferred a message:\n{relay.log_tail()}"
            return relay.queued() == 0 and len(relay.delivered()) >= e_mailed

        await eventually(drained, "Postfix to deliver what it took", within=60)
    finally:
        for p in processes:
            p.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(stopped, p) for p in processes]
        for o in outs:
            o.thread.join(10)
            print("".join(o.lines)[-3000:])  # shown by pytest when the test fails
    assert codes == [0, 0]
    return e_mailed


async def offers_pipelining(relay: PostfixRelay) -> bool:
    smtp = await connect("127.0.0.1", relay.port, timeout_s=10)
    await smtp.greet("telebill.test", None, None)
    await smtp.quit()
    return smtp.pipelining


def stopped(process: subprocess.Popen[str]) -> int | None:
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return None


async def test_a_month_into_postfix_arrives_as_previewed_and_signed(
    month: Platform, tmp_path: Path
) -> None:
    c, s = month.conn, month.settings
    key, record = dkim_key(tmp_path)
    email_of = {r["id"]: r["email"] for r in await c.fetch("SELECT id, email FROM member")}
    bill_of = {r["member_id"]: r["id"] for r in await c.fetch("SELECT id, member_id FROM bill")}
    known = {a for m, a in email_of.items() if m > UNKNOWN}
    async with postfix_running(known) as relay:
        assert await offers_pipelining(relay)  # so the consumers pipelined (RFC 2920)
        e_mailed = await deliver_the_month(month, relay, key)
        files = {path: path.read_bytes() for path in relay.delivered()}
        box_of = {box.name: address for address, box in relay.boxes.items()}
        log = (relay.root / "maillog").read_text(errors="replace")
        assert "improper command pipelining" not in log, log

    status = {r[0]: r[1] for r in await c.fetch("SELECT bill_id, status FROM notification")}
    refused = {bill_of[m] for m in range(1, UNKNOWN + 1)}
    assert {b for b, st in status.items() if st == "DELIVERED_SMS"} == refused
    assert e_mailed == len(bill_of) - UNKNOWN == len(files)
    rows = await c.fetch(
        "SELECT d.error FROM delivery_attempt d JOIN notification n ON n.id = d.notification_id "
        "WHERE d.channel = 'email' AND n.bill_id = ANY($1::bigint[])",
        sorted(refused),
    )
    errors = [r["error"] for r in rows]
    assert len(errors) == UNKNOWN  # 550: permanent, no retry
    assert all(e.startswith("SMTP 550 at RCPT TO: 5.1.1") and "@" not in e for e in errors)

    domain = s.email_from.rpartition("@")[2]
    bill_by_id = {message_id(f"{b}:MONTHLY_BILL", domain): b for b in bill_of.values()}
    parsed = {path: parse(raw) for path, raw in files.items()}
    ids = Counter(str(m["Message-ID"]) for m in parsed.values())
    assert set(ids.values()) == {1}, "a Message-ID delivered twice"
    assert set(ids) == {i for i, b in bill_by_id.items() if b not in refused}

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{domain}.".encode() else None

    member_of = {b: m for m, b in bill_of.items()}
    deps = Deps(s, month.pool)  # the admin API's preview, on the consumers' own database role
    try:
        for path, msg in parsed.items():
            bill = bill_by_id[str(msg["Message-ID"])]
            address = email_of[member_of[bill]]
            assert box_of[path.parent.parent.name] == address == str(msg["To"])  # its own box
            shown = await preview(deps, "email", bill)
            assert msg["Subject"] == shown.subject and "청구서" in msg["Subject"]
            (sender,) = msg["From"].addresses
            assert (sender.display_name, sender.addr_spec) == (s.email_from_name, s.email_from)
            text, html = body_parts(msg)
            assert html == shown.body and text == shown.text
            assert dkim.verify(files[path], dnsfunc=dns), f"DKIM fails on {path.name}"
    finally:
        deps.close()
    await the_links_open_their_bills(
        month, {bill_by_id[str(m["Message-ID"])]: m for m in parsed.values()}
    )


async def the_links_open_their_bills(month: Platform, delivered: dict[int, EmailMessage]) -> None:
    """Each delivered message's "view in browser" link, served by `telebill web serve`, opens
    that message's bill; a few are opened in Chromium at a phone's size."""
    due = {
        r["id"]: r["amount_due"] for r in await month.conn.fetch("SELECT id, amount_due FROM bill")
    }
    links = {bill: view_in_browser(body_parts(msg)[1]) for bill, msg in delivered.items()}
    # the page's clock where every bill is due and no link has expired yet, whatever the date
    s = month.settings.model_copy(
        update={"clock_offset_s": offset_to(PRETEND), "web_rate_burst": 2 * len(links)}
    )
    served = Billed(s, month.conn, str(s.web_base_url), {})
    async with web_server(served, "postfix-links"), httpx.AsyncClient() as client:
        for bill, link in links.items():
            assert link.startswith(served.url + PAGE_PATH)
            page = await client.get(link)
            assert page.status_code == 200, (bill, page.status_code)
            assert f'id="amount-due">{won(due[bill])}<' in page.text, bill
        await opened_on_a_phone([(links[b], won(due[b])) for b in sorted(links)[:3]])


def parse(raw: bytes) -> EmailMessage:
    """A delivered file as a mail client reads it; its headers as they came over the wire are
    ASCII (the Korean in RFC 2047 words), and the parser found no defect."""
    head = raw.split(b"\n\n", 1)[0]
    assert head.isascii() and b"=?utf-8?" in head
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    assert not [d for part in msg.walk() for d in part.defects]
    return msg


def body_parts(msg: EmailMessage) -> tuple[str, str]:
    """The text and the HTML of a multipart/alternative, in that order (plainest first)."""
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = (p.get_content() for p in parts)
    assert isinstance(text, str) and isinstance(html, str)
    # A part in base64 decodes to its canonical form, CRLF line ends (RFC 2046, 4.1.1), which
    # a client shows as its own line ends: the template's are LF.
    return text.replace("\r\n", "\n"), html.replace("\r\n", "\n")
