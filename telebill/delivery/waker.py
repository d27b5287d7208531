"""Sleep until woken, a deadline, or shutdown: how the background loops of a consumer wait
without polling in a tight loop."""

from __future__ import annotations

import asyncio


class Waker:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Return after `seconds`, or as soon as wake() is called or `stop` is set."""
        if stop.is_set():
            return
        waiters = [asyncio.ensure_future(self._event.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=max(seconds, 0.0), return_when="FIRST_COMPLETED")
        finally:
            for w in waiters:
                w.cancel()
            self._event.clear()
