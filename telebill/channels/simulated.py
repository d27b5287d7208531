"""The simulated e-mail and SMS providers (the requirement says nothing is really sent).

Like real providers' APIs they take an idempotency key, derived from the delivery key: a
message accepted once under a key is never accepted again, so a consumer that dies after the
provider accepted a message but before it recorded that, and whose batch is handled again,
does not make the member receive it twice. The provider answers "already accepted" instead,
and counts the refusal. A real provider keeps its keys on its side; the simulated ones keep
them in `provider_message` (one statement per burst of sends, never one per message).

The provider accepts a message when the call reaches it and answers after `latency_s`: a
client that dies meanwhile has had its message accepted without knowing it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import asyncpg

from telebill.channels.base import DeliveryFailed, RenderedMessage
from telebill.channels.key_burst import KeyBurst
from telebill.db.delivery_store import claim_provider_keys
from telebill.resilience import describe


class IdempotencyLedger:
    """The keys a simulated provider of one channel has accepted. Claims made at about the same
    moment (a batch's sends) are written together."""

    def __init__(self, pool: asyncpg.Pool, channel: str) -> None:
        self.pool = pool
        self.channel = channel
        self.refused = 0  # claims refused as duplicates by this process
        self._burst: KeyBurst[bool] = KeyBurst(self._answer)

    async def accept(self, key: str) -> bool:
        """True when the key is new (the message goes out), False when it was accepted before."""
        return await self._burst.ask(key)

    async def _answer(self, batch: list[tuple[str, asyncio.Future[bool]]]) -> None:
        try:
            async with self.pool.acquire() as conn:
                new = await claim_provider_keys(conn, self.channel, sorted({k for k, _ in batch}))
        except Exception as exc:  # the provider is unreachable: nothing was accepted
            raise DeliveryFailed(f"provider unavailable ({describe(exc)})") from exc
        for key, future in batch:
            first = key in new
            new.discard(key)  # the same key twice in a burst: the second is a duplicate
            self.refused += not first
            if not future.done():
                future.set_result(first)


# A provider's own rules (e.g. KakaoTalk's): why it refuses this message for good, or None.
Refusal = Callable[[str, RenderedMessage], Awaitable[str | None]]


class SimulatedSender:
    """A provider that takes `latency_s` to answer, fails with probability `failure_rate`,
    always fails for listed addresses, refuses for good what its own rules (`refusal`) refuse,
    and (with a ledger) refuses a key it accepted before."""

    def __init__(
        self,
        latency_s: float,
        failure_rate: float,
        always_fail: frozenset[str] = frozenset(),
        rng: random.Random | None = None,
        ledger: IdempotencyLedger | None = None,
        refusal: Refusal | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.always_fail = always_fail
        self.rng = rng or random.Random()
        self.ledger = ledger
        self.refusal = refusal

    async def send(
        self, address: str, message: RenderedMessage, idempotency_key: str | None = None
    ) -> bool:
        """True: accepted now; False: accepted before under this key (not sent again).
        Raises DeliveryFailed when the provider does not accept it."""
        if address in self.always_fail:
            await asyncio.sleep(self.latency_s)
            raise DeliveryFailed("provider refused the address (configured to fail)")
        if self.refusal is not None and (why := await self.refusal(address, message)):
            await asyncio.sleep(self.latency_s)
            raise DeliveryFailed(why, permanent=True)
        if self.rng.random() < self.failure_rate:
            await asyncio.sleep(self.latency_s)
            raise DeliveryFailed("provider error (simulated)")
        first = True
        if self.ledger is not None and idempotency_key is not None:
            first = await self.ledger.accept(idempotency_key)
        await asyncio.sleep(self.latency_s)
        return first

    async def aclose(self) -> None:
        """Nothing held: the simulated provider's keys are in PostgreSQL."""
