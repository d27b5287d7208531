"""The SMTP provider (telebill/channels/smtp_sender.py) against an SMTP server in-process
(aiosmtpd, tests/integration/smtp_relay.py) scripted to refuse: each reply and each way a
connection fails becomes the DeliveryFailed the chain acts on (4xx and lost connections:
retried; 5xx: the next channel at once), a message the relay took is taken once, connections
are pooled, replaced and kept after a refusal, messages are built off the event loop a pool
slot at a time, a message has a deadline, and a delivery key is claimed before its message
goes out: two consumers sending one bill at once send it once, a key the relay took before is
not sent again, one refused or lost is. TLS and the login: test_smtp_tls.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from telebill.channels import smtp_message, smtp_sender
from telebill.channels.base import DeliveryFailed, RenderedMessage
from telebill.channels.smtp_keys import RelayKeys
from telebill.channels.smtp_sender import SmtpSender
from telebill.config import Settings
from telebill.db_pool import create_pool
from telebill.domain.db_roles import DbRole
from telebill.settings.mail import MailSettings
from tests.helpers import eventually
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


@pytest.fixture(params=[True, False], ids=["pipelining", "one-command-at-a-time"])
async def relay(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ScriptedRelay, int]]:
    made = ScriptedRelay(pipelining=request.param)
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
        assert sender.redialled == 1  # found closed at MAIL, sent again on a fresh one
        server.drop_all()

        # closed while idle, and the client has seen it: not tried at all, a new one opened
        async def all_seen_closed() -> bool:
            return sender.pool.idle_open() == 0

        await eventually(
            all_seen_closed, "the client to see its idle connections closed", 5, every=0.005
        )
        assert await sender.send("after2@example.com", message, "62:MONTHLY_BILL") is True
        assert sender.redialled == 1 and sender.pool.opened == 6
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
        SmtpSender(mail, 2, lambda: datetime.now(UTC), RelayKeys(pool, 60)) for _ in range(2)
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


@pytest.fixture
async def consumer_pool(databases: Databases, settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    url = await databases.create()
    pool = await create_pool(settings.beside("smtpclaims", url), DbRole.CONSUMER)
    try:
        yield pool
    finally:
        await pool.close()


def keyed_sender(port: int, pool: asyncpg.Pool, **settings: object) -> SmtpSender:
    mail = MailSettings(email_provider="smtp", smtp_port=port, **settings)  # type: ignore[arg-type]
    return SmtpSender(mail, 2, lambda: datetime.now(UTC), RelayKeys(pool, 60))


async def test_two_consumers_sending_one_bill_at_once_send_it_once(
    consumer_pool: asyncpg.Pool, relay: tuple[ScriptedRelay, int], message: RenderedMessage
) -> None:
    """A Kafka rebalance: the event handled by two consumers at the same moment."""
    server, port = relay
    server.data_delay = 0.2  # the first still sending when the second comes to the key
    to = "member@example.com"
    first, second = keyed_sender(port, consumer_pool), keyed_sender(port, consumer_pool)
    try:
        for n in range(5):  # each a new bill, both senders starting together
            key = f"{n}:MONTHLY_BILL"
            outcomes = await asyncio.gather(
                first.send(to, message, key), second.send(to, message, key), return_exceptions=True
            )
            assert True in outcomes, outcomes
            [lost] = [o for o in outcomes if o is not True]
            # not recorded as delivered: retried later, when the other's outcome is known
            assert isinstance(lost, DeliveryFailed) and not lost.permanent
            assert str(lost) == "being sent by another consumer"
            assert await second.send(to, message, key) is False  # the retry: accepted before
            assert await first.send(to, message, key) is False
    finally:
        await first.aclose()
        await second.aclose()
    assert len(server.accepted) == 5 and set(server.accepted_ids().values()) == {1}
    async with consumer_pool.acquire() as conn:
        claims = await conn.fetchval(
            "SELECT count(*) FROM provider_message WHERE sending_since IS NOT NULL"
        )
    assert claims == 0


async def test_a_claim_is_released_on_refusal_or_loss_and_taken_over_when_abandoned(
    consumer_pool: asyncpg.Pool, relay: tuple[ScriptedRelay, int], message: RenderedMessage
) -> None:
    server, port = relay
    server.script("lost@example.com", DROP_AT_DATA, "250 OK")
    server.script("gone@example.com", "550 5.1.1 user unknown")
    sender = keyed_sender(port, consumer_pool)
    c = await consumer_pool.acquire()
    try:
        # the outcome unknown (dropped after the transfer): released, the retry sends it
        assert not (await failure_of(sender, "lost@example.com", message)).permanent
        assert await sender.send("lost@example.com", message, "lost@example.com:MONTHLY_BILL")
        # refused for good: released too (the bill goes by SMS; nothing is left claimed)
        assert (await failure_of(sender, "gone@example.com", message)).permanent
        rows = await c.fetch("SELECT idempotency_key, sending_since FROM provider_message")
        assert [(r[0], r[1]) for r in rows] == [("lost@example.com:MONTHLY_BILL", None)]
        # a claim held now by another process: not sent, not recorded; an hour old (its
        # process died mid-send): taken over and sent
        insert = (
            "INSERT INTO provider_message (channel, idempotency_key, sending_since) "
            "VALUES ('email', $1, now() - $2 * interval '1 second')"
        )
        await c.execute(insert, "held:MONTHLY_BILL", 1)
        await c.execute(insert, "dead:MONTHLY_BILL", 3600)
        held = await asyncio.gather(
            sender.send("held@example.com", message, "held:MONTHLY_BILL"),
            sender.send("dead@example.com", message, "dead:MONTHLY_BILL"),
            return_exceptions=True,
        )
        assert isinstance(held[0], DeliveryFailed) and not held[0].permanent
        assert held[1] is True
    finally:
        await consumer_pool.release(c)
        await sender.aclose()
    assert sorted(str(m["To"]) for m in server.accepted) == ["dead@example.com", "lost@example.com"]


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
async def test_messages_are_built_a_slot_at_a_time_and_signed_off_the_loop(
    relay: tuple[ScriptedRelay, int],
    message: RenderedMessage,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    signed: bool,
) -> None:
    """Only the messages that hold a connection are built, not the whole batch at once; a
    signed one in a worker thread (a DKIM signature takes milliseconds of CPU), an unsigned
    one on the event loop (under a millisecond: less than the thread's round trip)."""
    _, port = relay
    built = smtp_message.build
    threads: list[bool] = []
    lock = threading.Lock()
    now_building = most = 0

    def build(*args: object, **kwargs: object) -> object:
        nonlocal now_building, most
        with lock:
            now_building += 1
            most = max(most, now_building)
            threads.append(threading.current_thread() is threading.main_thread())
        try:
            if signed:
                threading.Event().wait(0.01)  # as long as a DKIM signature
            return built(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                now_building -= 1

    monkeypatch.setattr(smtp_sender, "build", build)
    key = tmp_path / "dkim.pem"
    if signed:
        made = await asyncio.create_subprocess_exec("openssl", "genrsa", "-out", str(key), "2048")
        assert await made.wait() == 0
    dkim = {"dkim_selector": "s2026", "dkim_key_file": key} if signed else {}
    sender = sender_for(port, connections=3, **dkim)
    try:
        sent = await asyncio.gather(
            *(sender.send(f"m{i}@example.com", message, f"{i}:MONTHLY_BILL") for i in range(30))
        )
    finally:
        await sender.aclose()
    assert sent == [True] * 30 and len(threads) == 30
    if signed:
        assert not any(threads)  # never on the event loop's thread
        assert 1 < most <= 3  # in parallel, never more than the pool's connections
    else:
        assert all(threads) and most == 1  # on the loop: one at a time by construction


async def test_a_relay_slow_at_every_command_hits_the_deadline(message: RenderedMessage) -> None:
    """Each answer within the command's timeout, the whole message not within 3 × it."""
    delay = 0.6

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            await asyncio.sleep(delay)
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        try:
            await say("220 slow.test")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    await say("354 go on")
                    while (await reader.readline()) not in (b".\r\n", b""):
                        pass
                await say({b"EHLO": "250 slow.test", b"QUIT": "221 bye"}.get(verb, "250 OK"))
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = sender_for(port, smtp_timeout_s=1.0)  # six answers: 3.6 s > the 3 s deadline
    began = asyncio.get_running_loop().time()
    try:
        failed = await failure_of(sender, "member@example.com", message)
    finally:
        await sender.aclose()
        server.close()
    assert not failed.permanent and str(failed).startswith("relay timed out at ")
    assert str(failed).endswith("(3 s per message)")
    assert asyncio.get_running_loop().time() - began < 3.5


async def test_a_refused_recipient_leaves_the_connection_usable(
    relay: tuple[ScriptedRelay, int], message: RenderedMessage
) -> None:
    server, port = relay
    server.script("gone@example.com", "550 5.1.1 user unknown")
    server.script("busy@example.com", "451 4.3.0 try later")
    sender = sender_for(port, connections=1)
    try:
        assert (await failure_of(sender, "gone@example.com", message)).permanent
        assert not (await failure_of(sender, "busy@example.com", message)).permanent
        assert await sender.send("member@example.com", message, KEY) is True
    finally:
        await sender.aclose()
    assert sender.pool.opened == 1  # RSET after each refusal, the connection kept
    assert [str(m["To"]) for m in server.accepted] == ["member@example.com"]
