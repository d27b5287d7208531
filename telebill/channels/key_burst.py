"""Keys asked about at about the same moment, answered by one database round trip: what the
providers' idempotency ledgers (simulated.py, smtp_keys.py) send per burst of messages, never
one statement per message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Given a burst's (key, future) pairs, settles every future (the same key may come twice).
Answer = Callable[[list[tuple[str, "asyncio.Future[T]"]]], Awaitable[None]]

GATHER_S = 0.002  # how long the first key of a burst waits for the rest to queue


class KeyBurst(Generic[T]):
    def __init__(self, answer: Answer[T]) -> None:
        self._answer = answer
        self._pending: list[tuple[str, asyncio.Future[T]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def ask(self, key: str) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(GATHER_S)
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._answer(batch)
            except Exception as exc:  # the burst's one failure is each of its callers'
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
