"""Connections to the SMTP relay, kept open between messages: a connection's greeting, EHLO,
TLS handshake and login cost several round trips, more than the message itself on a local
relay. One message at a time on each (SMTP has no concurrent transactions on a connection),
at most `size` at once; a connection that failed in any way is closed, never reused, and the
next message opens a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from telebill.channels.smtp_client import SmtpConnection


@dataclass
class Lease:
    smtp: SmtpConnection
    reused: bool  # opened for an earlier message: the relay may have closed it meanwhile
    keep: bool = False  # set once the message went through: the connection is good


class SmtpPool:
    def __init__(
        self, open_one: Callable[[], Awaitable[SmtpConnection]], size: int, idle_s: float
    ) -> None:
        self._open = open_one
        self._slots = asyncio.Semaphore(size)
        self._idle: list[tuple[SmtpConnection, float]] = []  # the most recently used last
        self.idle_s = idle_s
        self.opened = 0  # connections opened so far (tests and logs read it)
        self._closing = False  # after aclose: a connection coming back is closed, not kept

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the `size` slots, for one message from its building to the relay's answer:
        at most `size` messages are built or sent at once, whatever the batch."""
        async with self._slots:
            yield

    @contextlib.asynccontextmanager
    async def lease(self, fresh: bool = False) -> AsyncIterator[Lease]:
        """A connection for one message, taken within its `slot()` (which bounds them);
        `fresh`: a new one, not an idle one."""
        smtp = None if fresh else self._take_idle()
        lease = Lease(smtp or await self._open_counted(), reused=smtp is not None)
        try:
            yield lease
        finally:
            if lease.keep and lease.smtp.is_connected and not self._closing:
                self._idle.append((lease.smtp, time.monotonic()))
            elif lease.keep and lease.smtp.is_connected:
                await lease.smtp.quit()
            else:
                lease.smtp.close()

    def idle_open(self) -> int:
        """Idle connections not known to be closed (tests wait on it)."""
        return sum(smtp.is_connected for smtp, _ in self._idle)

    def _take_idle(self) -> SmtpConnection | None:
        # Most recently used first: the connections a quiet spell leaves idle age out and
        # are closed here rather than kept alive by being picked in turn.
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected and time.monotonic() - since < self.idle_s:
                return smtp
            smtp.close()
        return None

    async def _open_counted(self) -> SmtpConnection:
        smtp = await self._open()
        self.opened += 1
        return smtp

    async def aclose(self) -> None:
        """QUIT on every idle connection (a relay logs an abrupt close as an error)."""
        self._closing = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(smtp.quit() for smtp, _ in idle))
