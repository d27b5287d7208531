"""One client connection to an SMTP relay (RFC 5321) on asyncio streams: greeting, EHLO,
STARTTLS or implicit TLS, login (AUTH PLAIN or LOGIN), and mail transactions, pipelined
(RFC 2920) when the relay offers it: MAIL, RCPT and DATA go out in one write and their three
replies come back together, so a message costs two round trips instead of four.

Why not aiosmtplib (used here before): its protocol reads one reply per command and drops
whatever arrives while a reply waits to be picked up (5.1.3, `data_received`), so replies to
pipelined commands are lost; it has no way to plug in another protocol.

Bounded: each reply line is at most `MAX_LINE` bytes and a reply `MAX_LINES` lines; each
read and write has the connection's timeout (TimeoutError).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from dataclasses import dataclass, field
from enum import Enum

MAX_LINE = 2048  # RFC 5321 4.5.3.1.5 asks for 512; relays quote longer texts
MAX_LINES = 100


class Command(Enum):
    """The command whose reply is awaited (the sender names the stage after it)."""

    CONNECT = "connect"  # greeting, EHLO, STARTTLS, AUTH
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"  # the DATA command itself (354: go on)
    MESSAGE = "message"  # the message and the relay's answer to it
    OTHER = "RSET or QUIT"


class SmtpError(Exception):
    """The relay did something SMTP does not allow, or lacks what the settings ask for."""


class SmtpClosed(SmtpError, ConnectionError):
    """The connection closed (by the relay, or after a failure on our side)."""


class SmtpReply(SmtpError):
    """A reply that refuses the command it answers."""

    def __init__(self, code: int, text: str, command: Command) -> None:
        super().__init__(f"{code} {text}")
        self.code, self.text, self.command = code, text, command


@dataclass(frozen=True)
class Reply:
    code: int
    text: str  # its lines joined by "\n", without the codes


@dataclass(frozen=True)
class Login:
    username: str
    password: str = field(repr=False)


class SmtpConnection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float
    ) -> None:
        self._reader, self._writer = reader, writer
        self.timeout_s = timeout_s
        self.extensions: dict[str, str] = {}  # EHLO keyword (upper case) -> its parameters
        self.awaiting = Command.CONNECT

    @property
    def is_connected(self) -> bool:
        """Open, and between commands: bytes waiting unread (a reply nothing asked for) would
        be taken for the next command's reply, so a connection holding some is not usable."""
        return not (self._writer.is_closing() or self._reader.at_eof() or _buffered(self._reader))

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.extensions

    async def transaction(self, sender: str, recipient: str, message: bytes) -> Reply:
        """Sends `message` (CRLF line ends) from `sender` to `recipient`; the relay's 250, or
        SmtpReply for the first command it refused. After a refusal of MAIL or RCPT the
        connection is between transactions again (an RSET makes sure of it); after any other
        failure it cannot be used again. ValueError: an argument SMTP cannot carry."""
        self.awaiting = Command.MAIL  # an argument that cannot be written: the stage's fault
        mail = _address_line(b"MAIL FROM:", sender)
        self.awaiting = Command.RCPT
        rcpt = _address_line(b"RCPT TO:", recipient)
        self.awaiting = Command.MAIL
        commands = [(Command.MAIL, mail), (Command.RCPT, rcpt), (Command.DATA, b"DATA\r\n")]
        if self.pipelining:
            await self._write(b"".join(line for _, line in commands))
            await self._pipelined_replies([command for command, _ in commands])
        else:
            for command, line in commands:
                await self._write(line)
                self._check(await self._read(command), command)
        await self._write(dot_stuffed(message))
        return self._check(await self._read(Command.MESSAGE), Command.MESSAGE)

    async def _pipelined_replies(self, commands: list[Command]) -> None:
        """Every reply of the group is read, even after a refusal (RFC 2920, 3.1): the
        first refusal is raised, unless the connection failed before it was known."""
        refused: SmtpReply | None = None
        for command in commands:
            try:
                reply = await self._read(command)
            except (SmtpError, TimeoutError, OSError):
                if refused is None:
                    raise
                raise refused from None  # e.g. 421: the relay closes after saying so
            if refused is not None and command is Command.DATA and reply.code == 354:
                # DATA accepted though an earlier command was refused: end it empty
                try:
                    await self._write(b".\r\n")
                    await self._read(Command.MESSAGE)
                except (SmtpError, TimeoutError, OSError):
                    self.close()
                    raise refused from None
            try:
                self._check(reply, command)
            except SmtpReply as exc:
                refused = refused or exc
        if refused is not None:
            raise refused

    async def rset(self) -> None:
        await self._write(b"RSET\r\n")
        self._check(await self._read(Command.OTHER), Command.OTHER)

    async def quit(self) -> None:
        with contextlib.suppress(SmtpError, TimeoutError, OSError):
            await self._write(b"QUIT\r\n")
            await self._read(Command.OTHER)
        self.close()

    def close(self) -> None:
        self._writer.close()

    # the session's start -------------------------------------------------------------

    async def greet(
        self,
        helo: str,
        starttls: tuple[ssl.SSLContext, str] | None,
        login: Login | None,
    ) -> None:
        """The greeting, EHLO, STARTTLS when `starttls` (context, server name) is given, and
        the login. A relay that cannot do what is asked raises SmtpError: never in clear
        instead of TLS, never unauthenticated instead of logged in."""
        self._check(await self._read(Command.CONNECT), Command.CONNECT, 220)
        await self._ehlo(helo)
        if starttls is not None:
            if "STARTTLS" not in self.extensions:
                raise SmtpError("the relay does not offer STARTTLS")
            await self._command(b"STARTTLS\r\n", 220)
            if _buffered(self._reader):
                # RFC 3207, 6: what came in clear after the 220 would be read as if it came
                # over TLS (a man in the middle's replies); a relay never sends any
                self.close()
                raise SmtpError("the relay sent more after its STARTTLS reply, before TLS")
            context, server_name = starttls
            async with asyncio.timeout(self.timeout_s):
                await self._writer.start_tls(context, server_hostname=server_name)
            await self._ehlo(helo)  # what the relay offers may change under TLS (RFC 3207)
        if login is not None:
            await self._login(login)

    async def _ehlo(self, helo: str) -> None:
        reply = await self._send(_line(b"EHLO ", helo))
        if reply.code in (500, 502):  # an old relay: HELO, no extensions
            await self._command(_line(b"HELO ", helo), 250)
            self.extensions = {}
            return
        self._check(reply, Command.CONNECT)
        self.extensions = {}
        for line in reply.text.split("\n")[1:]:  # the first names the relay
            keyword, _, params = line.partition(" ")
            self.extensions[keyword.upper()] = params

    async def _login(self, login: Login) -> None:
        mechanisms = self.extensions.get("AUTH", "").upper().split()
        user, password = login.username.encode(), login.password.encode()
        if "PLAIN" in mechanisms:
            token = base64.b64encode(b"\0" + user + b"\0" + password)
            await self._command(b"AUTH PLAIN " + token + b"\r\n", 235)
        elif "LOGIN" in mechanisms:
            await self._command(b"AUTH LOGIN\r\n", 334)
            await self._command(base64.b64encode(user) + b"\r\n", 334)
            await self._command(base64.b64encode(password) + b"\r\n", 235)
        else:
            raise SmtpError(f"the relay offers no login Telebill knows: {mechanisms or 'none'}")

    # reading and writing ---------------------------------------------------------------

    async def _command(self, line: bytes, expected: int) -> Reply:
        return self._check(await self._send(line), Command.CONNECT, expected)

    async def _send(self, line: bytes) -> Reply:
        await self._write(line)
        return await self._read(Command.CONNECT)

    async def _write(self, data: bytes) -> None:
        if self._writer.is_closing():
            raise SmtpClosed("the connection is closed")
        self._writer.write(data)
        async with asyncio.timeout(self.timeout_s):
            await self._writer.drain()

    async def _read(self, command: Command) -> Reply:
        """The next reply. Any failure to read one closes the connection: a reply late or cut
        short would otherwise be taken for the next command's."""
        self.awaiting = command
        try:
            return await self._next_reply()
        except BaseException:
            self.close()
            raise

    async def _next_reply(self) -> Reply:
        code, lines = "", []
        async with asyncio.timeout(self.timeout_s):
            while True:
                try:
                    raw = await self._reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    raise SmtpClosed("the relay closed the connection") from exc
                except asyncio.LimitOverrunError as exc:
                    raise SmtpError(f"a reply line longer than {MAX_LINE} bytes") from exc
                line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
                if not _REPLY_LINE.fullmatch(line) or (code and line[:3] != code):
                    raise SmtpError(f"not an SMTP reply: {line[:80]!r}")
                code = line[:3]
                lines.append(line[4:])
                if line[3:4] != "-":
                    return Reply(int(code), "\n".join(lines))
                if len(lines) >= MAX_LINES:
                    raise SmtpError(f"a reply of more than {MAX_LINES} lines")

    def _check(self, reply: Reply, command: Command, *expected: int) -> Reply:
        if reply.code not in (expected or _ACCEPTED[command]):
            raise SmtpReply(reply.code, reply.text, command)
        return reply


async def connect(
    host: str,
    port: int,
    timeout_s: float,
    implicit_tls: ssl.SSLContext | None = None,
) -> SmtpConnection:
    """A connection whose greeting is yet to be read (`greet`)."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(
            host,
            port,
            ssl=implicit_tls,
            server_hostname=host if implicit_tls else None,
            limit=MAX_LINE,
        )
    return SmtpConnection(reader, writer, timeout_s)


_ACCEPTED = {
    Command.CONNECT: (250,),
    Command.MAIL: (250,),
    Command.RCPT: (250, 251),
    Command.DATA: (354,),
    Command.MESSAGE: (250,),
    Command.OTHER: (250,),
}
_REPLY_LINE = re.compile(r"[2-5][0-9][0-9]([ -].*)?", re.DOTALL)
# what an address may not hold on a MAIL or RCPT line: `>` or a space would end it and let
# the rest pass as ESMTP parameters (a quoted local part with a space is refused too)
_NOT_IN_ADDRESS = re.compile(r"[<>\s\x00-\x1f\x7f]")


def _buffered(reader: asyncio.StreamReader) -> int:
    """Bytes received and not read yet. asyncio has no public way to ask; the attribute has
    been there since 3.4 (CPython's streams.py)."""
    return len(getattr(reader, "_buffer", b""))


def _line(verb: bytes, arg: str) -> bytes:
    if "\r" in arg or "\n" in arg:
        raise ValueError("a line break in an SMTP command's argument")
    return verb + arg.encode("ascii") + b"\r\n"  # UnicodeEncodeError is a ValueError


def _address_line(verb: bytes, address: str) -> bytes:
    if _NOT_IN_ADDRESS.search(address):
        raise ValueError("a space, bracket or control character in an e-mail address")
    return _line(verb + b"<", address + ">")


_LINE_END = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def dot_stuffed(message: bytes) -> bytes:
    """`message` as DATA carries it (RFC 5321, 4.5.2): CRLF line ends, a leading dot doubled,
    and the lone dot that ends it. A message in CRLF lines with no line starting with a dot
    (the MIME this project writes: base64 has no dot) is passed through: the substitutions
    were a twentieth of a consumer's CPU."""
    crlf = message.count(b"\r\n")
    if message.count(b"\r") != crlf or message.count(b"\n") != crlf:
        message = _LINE_END.sub(b"\r\n", message)
    if message.startswith(b".") or b"\n." in message:
        message = _LEADING_DOT.sub(b"..", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    return message + b".\r\n"
