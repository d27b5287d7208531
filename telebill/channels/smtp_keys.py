"""The delivery keys of the messages given to the SMTP relay, kept in `provider_message` as the
simulated providers keep theirs.

SMTP has no idempotency key: a relay given the same message twice delivers it twice. So the
key is claimed before the message goes out, in a state that says "being sent", and becomes
accepted on the relay's 250. A second sender of the same key (two consumers handling the same
event at once across a Kafka rebalance, or a consumer redoing the batch of one that died)
finds it accepted (not sent again) or being sent (not sent now, not recorded as delivered
either: a temporary failure, retried with the backoff). A refusal, or a send whose outcome is
unknown, releases the claim so that a retry may send; a claim older than `abandoned_after_s`
is one whose process died mid-send, and may be claimed again. What is left: a message whose
connection dropped after its transfer (the relay may have taken it) or whose process died
between the 250 and the write is sent again, with the same Message-ID. The claims, marks and
releases of a burst of sends are one statement each, never one per message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import Enum

import asyncpg

from telebill.channels.base import DeliveryFailed
from telebill.channels.key_burst import KeyBurst
from telebill.db.connect import DbConn
from telebill.db.delivery_store import (
    accept_sending_keys,
    claim_sending_keys,
    release_sending_keys,
)
from telebill.resilience import describe

log = logging.getLogger(__name__)

Query = Callable[[DbConn, Sequence[str]], Awaitable[Mapping[str, str] | set[str]]]


class Claim(Enum):
    CLAIMED = "claimed"  # this sender sends it now
    ACCEPTED_BEFORE = "accepted"  # the relay took it before under this key
    BEING_SENT = "being sent"  # another sender holds it at this moment


def _burst(pool: asyncpg.Pool, query: Query) -> KeyBurst[str | None]:
    """A key's answer is its value in the query's mapping (or "" when the query answers with
    a set), None when absent."""

    async def answer(batch: list[tuple[str, asyncio.Future[str | None]]]) -> None:
        async with pool.acquire() as conn:
            found = await query(conn, sorted({k for k, _ in batch}))
        answers = found if isinstance(found, Mapping) else dict.fromkeys(found, "")
        for key, future in batch:
            if not future.done():
                future.set_result(answers.get(key))

    return KeyBurst(answer)


class RelayKeys:
    def __init__(
        self, pool: asyncpg.Pool, abandoned_after_s: float, channel: str = "email"
    ) -> None:
        """`abandoned_after_s` must exceed the longest a send can take (the sender's deadline
        per message): a claim is only ever taken over from a process that is gone."""

        async def claim(conn: DbConn, keys: Sequence[str]) -> Mapping[str, str]:
            return await claim_sending_keys(conn, channel, keys, abandoned_after_s)

        async def accept(conn: DbConn, keys: Sequence[str]) -> set[str]:
            return await accept_sending_keys(conn, channel, keys)

        async def release(conn: DbConn, keys: Sequence[str]) -> set[str]:
            return await release_sending_keys(conn, channel, keys)

        self._claims = _burst(pool, claim)
        self._accepts = _burst(pool, accept)
        self._releases = _burst(pool, release)

    async def claim(self, key: str) -> Claim:
        try:
            state = await self._claims.ask(key)
        except Exception as exc:  # unknown whether it went out: not sent now, tried again
            raise DeliveryFailed(f"delivery keys unavailable ({describe(exc)})") from exc
        return Claim.BEING_SENT if state is None else Claim(state)

    async def accepted(self, key: str) -> None:
        """The relay accepted the message of `key`."""
        try:
            await self._accepts.ask(key)
        except Exception as exc:
            # The message is out: failing its send now would send it again. The attempt,
            # recorded as sent, still keeps the bill from going out twice; only a redo of the
            # batch after the claim is abandoned would send it again (same Message-ID).
            log.warning("relay accepted a message, its key not kept: %s", describe(exc))

    async def release(self, key: str) -> None:
        """The message of `key` was not taken, or may not have been: a retry may send it."""
        try:
            await self._releases.ask(key)
        except Exception as exc:
            # The claim stays until it counts as abandoned: the retries meanwhile fail as
            # "being sent", later ones send. Late, never lost.
            log.warning("a message's claim not released: %s", describe(exc))
