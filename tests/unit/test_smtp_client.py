"""The SMTP client (telebill/channels/smtp_client.py) against relays written byte by byte on a
loopback socket: pipelined commands go out in one write and their replies, however they are
cut into packets, come back in order; a refusal inside a pipelined group leaves the connection
ready for the next message; dot-stuffing survives any message; whatever bytes a relay answers,
the client returns a reply or raises an SmtpError in bounded time, never hangs; and no reply
is ever taken for another's (sent in clear before TLS, unasked for, or too late)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebill.channels.smtp_client import (
    MAX_LINE,
    Command,
    Login,
    SmtpClosed,
    SmtpConnection,
    SmtpError,
    SmtpReply,
    connect,
    dot_stuffed,
)
from tests.helpers import eventually

Relay = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
EHLO = b"250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


@contextlib.asynccontextmanager
async def relay(script: Relay) -> AsyncIterator[int]:
    server = await asyncio.start_server(script, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def greeted(port: int) -> SmtpConnection:
    smtp = await connect("127.0.0.1", port, timeout_s=2)
    await smtp.greet("telebill.test", None, None)
    return smtp


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The relay's side of the greeting and EHLO, offering PIPELINING."""
    writer.write(b"220 relay.test\r\n")
    await reader.readuntil(b"\r\n")
    writer.write(EHLO)


async def lines(reader: asyncio.StreamReader, n: int) -> list[bytes]:
    return [await reader.readuntil(b"\r\n") for _ in range(n)]


async def read_data(reader: asyncio.StreamReader) -> bytes:
    """The message as the relay receives it, un-stuffed (RFC 5321, 4.5.2)."""
    received = []
    while (line := await reader.readuntil(b"\r\n")) != b".\r\n":
        received.append(line[1:] if line.startswith(b".") else line)
    return b"".join(received)


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 20))


def test_pipelined_group_is_one_write_and_replies_in_one_packet() -> None:
    got: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        for _ in range(2):
            # A client that waited for MAIL's reply before RCPT would hang here: the
            # relay answers only once all three commands have arrived, in one packet.
            got.extend(await lines(reader, 3))
            writer.write(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go on\r\n")
            got.append(await read_data(reader))
            writer.write(b"250 2.0.0 queued as 1\r\n")
        await reader.read()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            assert smtp.pipelining
            for body in (b"Subject: a\r\n\r\n.dot\r\n", b"Subject: b\r\n\r\nx"):
                reply = await smtp.transaction("bill@telebill.test", "kim@example.kr", body)
                assert reply.code == 250
            await smtp.quit()

    run(main())
    group = [b"MAIL FROM:<bill@telebill.test>\r\n", b"RCPT TO:<kim@example.kr>\r\n", b"DATA\r\n"]
    assert got[:3] == group
    assert got[3] == b"Subject: a\r\n\r\n.dot\r\n" and got[7] == b"Subject: b\r\n\r\nx\r\n"


@pytest.mark.parametrize("data_reply", [b"554 5.5.1 no valid recipients", b"354 go on"])
def test_refused_rcpt_in_a_group_reads_every_reply(data_reply: bytes) -> None:
    """RFC 2920, 3.1: after a refused RCPT the DATA reply is still read; a DATA accepted
    anyway is ended with a lone dot. The next message goes through on the same connection."""
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        seen.extend(await lines(reader, 3))
        writer.write(b"250 ok\r\n550 5.1.1 <kim@example.kr>: unknown\r\n" + data_reply + b"\r\n")
        if data_reply.startswith(b"354"):
            seen.append(await reader.readuntil(b"\r\n"))  # the lone dot
            writer.write(b"554 5.5.1 no valid recipients\r\n")
        seen.append(await reader.readuntil(b"\r\n"))  # RSET from the caller
        writer.write(b"250 reset\r\n")
        seen.extend(await lines(reader, 3))
        writer.write(b"250 ok\r\n250 ok\r\n354 go on\r\n")
        await read_data(reader)
        writer.write(b"250 queued\r\n")
        await reader.read()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            with pytest.raises(SmtpReply) as refused:
                await smtp.transaction("bill@telebill.test", "kim@example.kr", b"x\r\n")
            assert (refused.value.code, refused.value.command) == (550, Command.RCPT)
            await smtp.rset()
            assert (await smtp.transaction("bill@t.test", "lee@example.kr", b"y\r\n")).code == 250
            smtp.close()

    run(main())
    assert (b".\r\n" in seen) == data_reply.startswith(b"354")


def test_without_pipelining_one_command_at_a_time() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test\r\n")
        await reader.readuntil(b"\r\n")
        writer.write(b"250 relay.test\r\n")  # no extensions
        for reply in (b"250 ok", b"250 ok", b"354 go on"):
            await reader.readuntil(b"\r\n")
            with contextlib.suppress(TimeoutError):  # nothing more may arrive before the reply
                await asyncio.wait_for(reader.readuntil(b"\r\n"), 0.05)
                writer.write(b"503 5.5.1 pipelined without PIPELINING\r\n")
            writer.write(reply + b"\r\n")
        await read_data(reader)
        writer.write(b"250 queued\r\n")
        await reader.read()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            assert not smtp.pipelining
            assert (await smtp.transaction("bill@t.test", "kim@example.kr", b"x")).code == 250
            smtp.close()

    run(main())


def test_421_then_closed_in_a_group_is_the_421() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        await lines(reader, 3)
        writer.write(b"421 4.3.2 shutting down\r\n")
        writer.close()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            with pytest.raises(SmtpReply) as refused:
                await smtp.transaction("bill@t.test", "kim@example.kr", b"x")
            assert (refused.value.code, refused.value.command) == (421, Command.MAIL)
            assert not smtp.is_connected

    run(main())


CRLF_LINES = st.lists(
    st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=12
).map(b"\r\n".join)  # a message in CRLF lines already, leading dots or not


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | CRLF_LINES | CRLF_LINES.map(lambda b: b + b"\r\n"))
def test_dot_stuffing_round_trips(message: bytes) -> None:
    stuffed = dot_stuffed(message)
    assert stuffed.endswith(b"\r\n.\r\n")
    lines_ = stuffed[: -len(b".\r\n")].split(b"\r\n")[:-1]
    assert b"." not in lines_  # the message cannot end early
    unstuffed = b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines_)
    normalized = re.sub(rb"\r\n|\r|\n", b"\r\n", message)
    assert unstuffed == (normalized if normalized.endswith(b"\r\n") else normalized + b"\r\n")


REPLY_LINE = st.builds(
    lambda code, more, text: code + (b"-" if more else b" ") + text + b"\r\n",
    st.sampled_from([b"250", b"354", b"421", b"550", b"25", b"2500", b"abc", b"", "٢٥٠".encode()]),
    st.booleans(),
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
)
ANSWERS = st.one_of(
    st.lists(REPLY_LINE, max_size=8).map(b"".join),
    st.binary(max_size=400),
    st.just(b"250-" + b"x" * (MAX_LINE + 10) + b"\r\n"),
    st.just(b"250-more\r\n" * 150),
)


@settings(max_examples=150, deadline=None)
@given(answers=ANSWERS, cut=st.integers(min_value=1, max_value=64))
def test_any_answer_is_a_reply_or_an_smtp_error(answers: bytes, cut: int) -> None:
    """A relay answering anything to a pipelined group, in packets of any size, then closing:
    the client ends with a reply or an SmtpError (or TimeoutError), never another exception,
    never waiting past its timeout."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        await lines(reader, 3)
        for i in range(0, len(answers), cut):
            writer.write(answers[i : i + cut])
            await writer.drain()
        writer.close()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            smtp.timeout_s = 1
            try:
                await smtp.transaction("bill@t.test", "kim@example.kr", b"x")
            except (SmtpError, TimeoutError):
                pass
            finally:
                smtp.close()

    run(main())


def test_closed_at_greeting_is_smtp_closed() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        async with relay(script) as port:
            with pytest.raises(SmtpClosed):
                await greeted(port)

    run(main())


def test_what_follows_the_starttls_reply_in_clear_is_refused() -> None:
    """RFC 3207, 6: replies slipped in after the 220 (a man in the middle's) would be read as
    the relay's over TLS; the client closes instead of upgrading."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 relay.test\r\n")
        await reader.readuntil(b"\r\n")
        writer.write(b"250-relay.test\r\n250 STARTTLS\r\n")
        await reader.readuntil(b"\r\n")
        writer.write(b"220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n235 ok\r\n")
        await reader.read()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await connect("127.0.0.1", port, timeout_s=2)
            with pytest.raises(SmtpError, match="after its STARTTLS reply"):
                await smtp.greet("telebill.test", (ssl.create_default_context(), "x"), None)
            assert not smtp.is_connected

    run(main())


@pytest.mark.parametrize("then", [b"close", b"silence"])
def test_a_refusal_in_a_group_survives_the_lone_dot_failing(then: bytes) -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        await lines(reader, 3)
        writer.write(b"250 ok\r\n550 5.1.1 unknown\r\n354 go on\r\n")
        await reader.readuntil(b"\r\n")  # the lone dot
        if then == b"close":
            writer.close()
        else:
            await reader.read()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            smtp.timeout_s = 0.5
            with pytest.raises(SmtpReply) as refused:
                await smtp.transaction("bill@t.test", "kim@example.kr", b"x")
            assert (refused.value.code, refused.value.command) == (550, Command.RCPT)
            assert not smtp.is_connected

    run(main())


def test_a_reply_nobody_asked_for_makes_the_connection_unusable() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        await lines(reader, 3)
        writer.write(b"250 ok\r\n250 ok\r\n354 go on\r\n")
        await read_data(reader)
        writer.write(b"250 queued\r\n250 one reply too many\r\n")
        await reader.read()

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            await smtp.transaction("bill@t.test", "kim@example.kr", b"x")

            async def unusable() -> bool:  # once the extra reply has arrived
                return not smtp.is_connected

            await eventually(unusable, "the connection to be unusable", within=5, every=0.01)
            smtp.close()

    run(main())


def test_a_reply_too_late_closes_the_connection() -> None:
    """A timed-out read closes: its reply, arriving later, cannot be taken for an RSET's."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        await reader.read()  # never answers the group

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            smtp.timeout_s = 0.2
            with pytest.raises(TimeoutError):
                await smtp.transaction("bill@t.test", "kim@example.kr", b"x")
            assert smtp.awaiting is Command.MAIL and not smtp.is_connected

    run(main())


@pytest.mark.parametrize(
    "address", ["kim@example.kr> SIZE=1", "kim doe@example.kr", "kim@exa\x00mple.kr", "<kim@x.kr"]
)
def test_an_address_that_would_end_its_command_early_is_refused(address: str) -> None:
    sent: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await greet(reader, writer)
        sent.append(await reader.read())

    async def main() -> None:
        async with relay(script) as port:
            smtp = await greeted(port)
            with pytest.raises(ValueError, match="e-mail address"):
                await smtp.transaction("bill@t.test", address, b"x")
            assert smtp.awaiting is Command.RCPT
            smtp.close()

    run(main())
    assert sent == [b""]  # nothing was written


def test_the_password_is_not_in_the_logins_repr() -> None:
    assert "s3cret" not in repr(Login("telebill", "s3cret"))
