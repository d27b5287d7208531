"""The delivery keys the SMTP relay has accepted, kept in `provider_message` as the simulated
providers keep theirs.

SMTP has no idempotency key: a relay given the same message twice delivers it twice. So the
key is looked up before a message goes out and written as soon as the relay says 250: a
consumer that dies after that and whose batch is handled again finds the key and does not
send the bill a second time. What is left is the instant between the 250 and the write; a
message sent again across it carries the same Message-ID. Both the look-ups and the writes of
a burst of sends are one statement each, never one per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from telebill.channels.base import DeliveryFailed
from telebill.db.connect import DbConn
from telebill.db.delivery_store import claim_provider_keys, provider_keys_seen
from telebill.resilience import describe

log = logging.getLogger(__name__)

Query = Callable[[DbConn, str, Sequence[str]], Awaitable[set[str]]]


class _Burst:
    """Keys asked about at about the same moment, answered by one query."""

    def __init__(self, pool: asyncpg.Pool, channel: str, query: Query) -> None:
        self.pool, self.channel, self.query = pool, channel, query
        self._pending: list[tuple[str, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def ask(self, key: str) -> bool:
        """Whether the query's answer holds the key."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0.002)  # the rest of the burst queues its keys meanwhile
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.pool.acquire() as conn:
                    found = await self.query(conn, self.channel, sorted({k for k, _ in batch}))
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for key, future in batch:
                if not future.done():
                    future.set_result(key in found)


class RelayKeys:
    def __init__(self, pool: asyncpg.Pool, channel: str = "email") -> None:
        self._seen = _Burst(pool, channel, provider_keys_seen)
        self._claims = _Burst(pool, channel, claim_provider_keys)

    async def accepted_before(self, key: str) -> bool:
        try:
            return await self._seen.ask(key)
        except Exception as exc:  # unknown whether it went out: not sent now, tried again
            raise DeliveryFailed(f"delivery keys unavailable ({describe(exc)})") from exc

    async def accepted(self, key: str) -> None:
        """The relay accepted the message of `key`."""
        try:
            await self._claims.ask(key)
        except Exception as exc:
            # The message is out: failing its send now would send it again. The attempt,
            # recorded as sent, still keeps the bill from going out twice.
            log.warning("relay accepted a message, its key not kept: %s", describe(exc))
