"""The dead-letter consumer: `telebill consume dlq`.

Records every dead letter it gets with its reason and history, whatever it holds: Telebill's
own letters, letters whose bill is unknown or missing, NUL bytes, non-UTF-8 text and letters
from another producer (telebill/messaging/dead_letter.py reads anything into a record). A letter
recorded twice (a consumer that crashed before committing publishes it again, or this one reads
it again) is one row. PostgreSQL down is waited out; the outcome reporter beside it is
supervised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial

import asyncpg

from telebill.config import Settings
from telebill.db.dead_letter_store import record_dead_letters
from telebill.delivery.outcomes import OutcomeReporter, temporal_sink
from telebill.messaging.consumer import commit_handled, group_id, measure_lag, started_consumer
from telebill.messaging.dead_letter import DeadLetterRecord, cut, parse_dead_letter
from telebill.messaging.outcome import OutcomeSink
from telebill.messaging.topics import Topics
from telebill.metrics import DEAD_LETTERS_KEPT, EVENTS, RUNNING
from telebill.resilience import describe, each_alone, raise_failed, supervise, wait_out

log = logging.getLogger(__name__)


def unstorable(letter: DeadLetterRecord, exc: Exception) -> DeadLetterRecord:
    """What is kept of a letter PostgreSQL refused as it was: its key, bill and why."""
    return DeadLetterRecord(
        letter.key,
        {"unstorable": cut(repr(letter.event).encode())},
        f"{letter.reason[:300]} (kept in part: refused by the database: {describe(exc)})",
        letter.bill_id,
        letter.purpose,
        None,
        None,
    )


class DeadLetterConsumer:
    """Records every dead letter with its reason and history (the admin lists and replays them)."""

    def __init__(
        self, settings: Settings, pool: asyncpg.Pool, sink: OutcomeSink | None = None
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.reporter = OutcomeReporter(
            pool, sink or temporal_sink(settings), settings.outcome_report_grace_s
        )
        self.recorded = 0

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        group = group_id(s, "dlq")
        consumer = await started_consumer(s, group, [Topics(s.topic_prefix).dlq], "dlq")
        helpers = [
            asyncio.create_task(
                supervise("outcome reporter", lambda: self.reporter.run(stop), stop)
            ),
            asyncio.create_task(
                supervise("lag gauge", lambda: measure_lag(consumer, group, stop), stop)
            ),
        ]
        RUNNING.labels("dlq").set(1)
        try:
            while not stop.is_set():
                raise_failed(helpers)
                batch = await wait_out("Kafka (polling)", lambda: consumer.getmany(timeout_ms=500))
                letters = [
                    parse_dead_letter(r.value, f"{r.topic}/{r.partition}/{r.offset}")
                    for rs in batch.values()
                    for r in rs
                ]
                if letters:
                    new = await wait_out(
                        "PostgreSQL (recording dead letters)", partial(self.record, letters)
                    )
                    self.recorded += len(letters)
                    EVENTS.labels("dlq").inc(len(letters))
                    DEAD_LETTERS_KEPT.inc(new)
                    self.reporter.waker.wake()
                    await commit_handled(consumer)
        finally:
            RUNNING.labels("dlq").set(0)
            stop.set()
            await asyncio.gather(*helpers, return_exceptions=True)
            await consumer.stop()

    async def record(self, letters: Sequence[DeadLetterRecord]) -> int:
        """All in one transaction; a letter the database refuses is kept in part instead.
        Returns how many letters were new (not recorded before)."""
        async with self.pool.acquire() as conn, conn.transaction():

            async def part(group: Sequence[DeadLetterRecord]) -> int:
                async with conn.transaction():
                    return await record_dead_letters(conn, group)

            parts, refused = await each_alone(letters, part)
            if refused:
                log.warning(
                    "%d dead letter(s) kept in part: %s", len(refused), describe(refused[0][1])
                )
                parts.append(
                    await record_dead_letters(conn, [unstorable(d, exc) for d, exc in refused])
                )
        return sum(parts)
