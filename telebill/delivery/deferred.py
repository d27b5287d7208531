"""Events deferred by a send window (blackout or quiet hours, design invariant 3).

The consumer does not send an event that reaches it inside a window: it stores the event with the
next allowed instant and commits its offset. A releaser beside each consumer publishes due events
back to their topic, sleeping until the earliest due time (never a polling loop per event). The
row is deleted only after the publish is acknowledged, so a crash in between publishes twice,
which the delivery key makes harmless; nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from telebill.db.connect import DbConn
from telebill.db.deferred_store import (
    DeferredRow,
    claim_due_deferred,
    forget_deferred,
    next_due,
)
from telebill.db.deferred_store import defer_events as store_deferred
from telebill.delivery.batch import Deferral
from telebill.delivery.waker import Waker
from telebill.messaging.dead_letter import dead_letter_message
from telebill.messaging.events import MalformedEvent, NotificationEvent

log = logging.getLogger(__name__)

RELEASE_BATCH = 1_000
IDLE_CHECK_S = 10.0  # another process may defer events; look at least this often


async def defer_events(conn: DbConn, deferrals: Sequence[Deferral]) -> None:
    """Store (or move) each event until its due time; one statement for the batch."""
    await store_deferred(
        conn,
        [
            DeferredRow(
                d.event.bill_id,
                d.event.purpose,
                d.topic,
                d.event.model_dump_json(),
                d.due_at,
                d.reason,
            )
            for d in deferrals
        ],
    )


async def release_due(
    conn: DbConn,
    producer: AIOKafkaProducer,
    now: datetime,
    dlq_topic: str,
    limit: int = RELEASE_BATCH,
) -> int:
    """Publish up to `limit` due events and forget them; SKIP LOCKED lets every consumer
    process run a releaser without two of them taking the same rows. A row that no longer
    holds a valid event (stored by an older version, say) goes to the dead-letter queue with
    the reason instead of stopping the releaser."""
    async with conn.transaction():
        rows = await claim_due_deferred(conn, now, limit)
        if not rows:
            return 0
        sends = []
        for r in rows:
            try:
                event = NotificationEvent.from_bytes(r["event"].encode())
            except MalformedEvent as exc:
                source = f"deferred_event/{r['bill_id']}/{r['purpose']}"
                letter = dead_letter_message(
                    f"deferred event unreadable: {exc}", None, r["event"].encode(), source
                )
                sends.append(await producer.send(dlq_topic, letter))
                continue
            sends.append(await producer.send(r["topic"], event.to_bytes(), key=event.key))
        await asyncio.gather(*sends)
        await forget_deferred(conn, [(r["bill_id"], r["purpose"]) for r in rows])
    return len(rows)


class DeferredReleaser:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        now: Callable[[], datetime],
        dlq_topic: str,
    ) -> None:
        self.now = now  # the clock send windows are checked by
        self.dlq_topic = dlq_topic
        self.pool = pool
        self.producer = producer
        self.waker = Waker()  # woken when this process defers something
        self.released = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    n = await release_due(conn, self.producer, self.now(), self.dlq_topic)
                    self.released += n
                    if n == RELEASE_BATCH:
                        continue
                    due = await next_due(conn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("deferred events: %s; trying again shortly", exc)
                due = None
            wait = IDLE_CHECK_S
            if due is not None:
                wait = min(wait, (due - self.now()).total_seconds())
            await self.waker.sleep(wait, stop)
