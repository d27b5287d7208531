"""The SMTP provider (telebill/channels/smtp_sender.py) against an SMTP server in-process
(aiosmtpd, tests/integration/smtp_relay.py) scripted to refuse: each reply and each way a
connection fails becomes the DeliveryFailed the chain acts on (4xx and lost connections:
retried; 5xx: the next channel at once), a message the relay took is taken once, connections
are pooled and replaced, and a delivery key the relay took before is not sent again. TLS and
the login: test_smtp_tls.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from telebill.channels.base import RenderedMessage
from telebill.channels.smtp_keys import RelayKeys
from telebill.channels.smtp_sender import SmtpSender
from telebill.config import Settings
from telebill.db_pool import create_pool
from telebill.domain.db_roles import DbRole
from telebill.settings.mail import MailSettings
from tests.integration.conftest import Databases
from tests.integration.smtp_relay import (
    DROP,
    DROP_AT_DATA,
    KEY,
    ScriptedRelay,
    failure_of,
    relay_running,
    sample_email,
    sender_for,
)


@pytest.fixture(scope="module")
def message() -> RenderedMessage:
    return sample_email()


@pytest.fixture
async def relay() -> AsyncIterator[tuple[ScriptedRelay, int]]:
    made = ScriptedRelay()
    async with relay_running(made) as port:
        yield made, port


async def test_each_reply_and_failure_maps_to_the_chain(
    relay: tuple[ScriptedRelay, int], message: RenderedMessage
) -> None:
    server, port = relay
    server.script("busy@example.com", "451 4.3.0 mailbox busy, try later")
    server.script("closing@example.com", "421 4.3.2 service shutting down")
    server.script("gone@example.com", "550 5.1.1 <gone@example.com>: user unknown")
    server.script("full@example.com", "552 5.2.2 mailbox of 010-1234-5678 full")
    server.script("drop@example.com", DROP)
    server.script("dropdata@example.com", DROP_AT_DATA)
    sender = sender_for(port)
    try:
        busy = await failure_of(sender, "busy@example.com", message)
        assert not busy.permanent and str(busy).startswith("SMTP 451 at RCPT TO")
        closing = await failure_of(sender, "closing@example.com", message)
        assert not closing.permanent and "421" in str(closing)
        gone = await failure_of(sender, "gone@example.com", message)
        assert gone.permanent and str(gone) == "SMTP 550 at RCPT TO: 5.1.1 <<email>>: user unknown"
        full = await failure_of(sender, "full@example.com", message)
        assert full.permanent and "<phone>" in str(full) and "5678" not in str(full)
        drop = await failure_of(sender, "drop@example.com", message)
        assert not drop.permanent and "connection lost at RCPT TO" in str(drop)
        at_data = await failure_of(sender, "dropdata@example.com", message)
        assert not at_data.permanent and "connection lost at DATA" in str(at_data)
        assert server.accepted == []  # none of them was taken
        # after every kind of failure the next message goes through, on a new connection
        assert await sender.send("member@example.com", message, KEY) is True
    finally:
        await sender.aclose()
    assert server.rcpts["member@example.com"] == 1
    [accepted] = [m for m in server.accepted if m["To"] == "member@example.com"]
    assert accepted["Subject"] == message.subject
    assert accepted["From"].addresses[0].display_name == "텔레빌 고객센터"


async def test_a_retried_message_is_taken_once(
    relay: tuple[ScriptedRelay, int], message: RenderedMessage
) -> None:
    server, port = relay
    to = "later@example.com"
    server.script(to, "451 4.7.1 greylisted", DROP, "421 4.3.2 closing", DROP_AT_DATA, "250 OK")
    sender = sender_for(port)
    try:
        for _ in range(4):  # the chain's retries: each a DeliveryFailed to retry
            assert not (await failure_of(sender, to, message)).permanent
        assert await sender.send(to, message, f"{to}:MONTHLY_BILL") is True
    finally:
        await sender.aclose()
    assert server.rcpts[to] == 5
    assert list(server.accepted_ids().values()) == [1]


async def test_connections_are_pooled_bounded_and_replaced(
    relay: tuple[ScriptedRelay, int], message: RenderedMessage
) -> None:
    server, port = relay
    sender = sender_for(port, connections=4)
    try:
        sent = await asyncio.gather(
            *(sender.send(f"m{i}@example.com", message, f"{i}:MONTHLY_BILL") for i in range(60))
        )
        assert sent == [True] * 60
        assert sender.pool.opened == len(server.sessions) == 4  # reused, never more than 4
        server.drop_all()  # closed under the pool's feet: the message goes on a new one
        assert await sender.send("after@example.com", message, "61:MONTHLY_BILL") is True
        server.drop_all()
        await asyncio.sleep(0.05)  # closed while idle: seen, not tried again
        assert await sender.send("after2@example.com", message, "62:MONTHLY_BILL") is True
        assert sender.pool.opened == 6
    finally:
        await sender.aclose()
    ids = server.accepted_ids()
    assert len(ids) == 62 and set(ids.values()) == {1}  # each once, each its own Message-ID


async def test_a_silent_relay_times_out(message: RenderedMessage) -> None:
    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # the client gives up first

    server = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = sender_for(port, smtp_timeout_s=0.3)
    began = asyncio.get_running_loop().time()
    try:
        failed = await failure_of(sender, "member@example.com", message)
    finally:
        await sender.aclose()
        server.close()
    assert not failed.permanent and str(failed) == "relay timed out at connecting"
    assert asyncio.get_running_loop().time() - began < 3


async def test_a_key_the_relay_took_before_is_not_sent_again(
    databases: Databases,
    settings: Settings,
    relay: tuple[ScriptedRelay, int],
    message: RenderedMessage,
) -> None:
    server, port = relay
    url = await databases.create()
    pool = await create_pool(settings.beside("smtpkeys", url), DbRole.CONSUMER)
    server.script("member@example.com", "451 4.3.0 busy", "250 OK")
    mail = MailSettings(email_provider="smtp", smtp_port=port)
    first, second = (
        SmtpSender(mail, 2, lambda: datetime.now(UTC), RelayKeys(pool)) for _ in range(2)
    )
    try:
        # a refusal keeps no key: the retry goes out
        assert not (await failure_of(first, "member@example.com", message)).permanent
        assert await first.send("member@example.com", message, KEY) is True
        # the consumer that sent it died before recording it; the batch is handled again by
        # another process: the relay is not given the bill a second time
        assert await second.send("member@example.com", message, KEY) is False
        assert server.rcpts["member@example.com"] == 2
        sent = await asyncio.gather(
            *(second.send(f"m{i}@example.com", message, f"{i}:MONTHLY_BILL") for i in range(20))
        )
        assert sent == [True] * 20
        again = await asyncio.gather(
            *(first.send(f"m{i}@example.com", message, f"{i}:MONTHLY_BILL") for i in range(20))
        )
        assert again == [False] * 20
    finally:
        await first.aclose()
        await second.aclose()
        await pool.close()
    assert set(server.accepted_ids().values()) == {1} and len(server.accepted) == 21
