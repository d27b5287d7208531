"""Replaying dead letters: back to the start of the bill's chain (its first channel, attempt 1).

Still idempotent: a bill delivered meanwhile is not sent again (its delivery key), and the
event's history keeps every earlier attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from telebill.db.connect import DbConn
from telebill.db.dead_letter_store import (
    MAX_PAGE,
    StoredDeadLetter,
    list_dead_letters,
    mark_replayed,
)
from telebill.errors import NotFound
from telebill.messaging.events import MalformedEvent, NotificationEvent
from telebill.messaging.kafka_auth import KafkaAccess
from telebill.messaging.producer import durable_producer
from telebill.messaging.topics import Topics


def replayable(letter: StoredDeadLetter) -> NotificationEvent:
    if letter.bill_id is None:
        raise MalformedEvent(f"holds no event to replay ({letter.reason})")
    try:
        event = NotificationEvent.model_validate(letter.event)
    except ValueError as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        why = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(exc)
        raise MalformedEvent(f"its event is not valid ({why})") from None
    return event.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "channel": event.chain[0],
            "attempt": 1,
            "not_before": None,
        }
    )


@dataclass(frozen=True)
class Replayed:
    done: list[int]  # dead letter ids published again
    skipped: list[tuple[int, str]]  # those that could not be, and why


async def replay(
    conn: DbConn, kafka: KafkaAccess, topics: Topics, ids: Sequence[int] | None
) -> Replayed:
    """Republish the chosen (or all not yet replayed) dead letters, a page at a time. A letter
    that holds nothing to replay is skipped with the reason; the others go on."""
    pages: list[list[StoredDeadLetter]] = []
    if ids is not None:
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), MAX_PAGE):
            pages.append(await list_dead_letters(conn, ids=wanted[i : i + MAX_PAGE]))
        unknown = set(wanted) - {d.id for page in pages for d in page}
        if unknown:
            raise NotFound(f"no unreplayed dead letter with id {min(unknown)}")
    done: list[int] = []
    skipped: list[tuple[int, str]] = []
    after = 0
    while pages or ids is None:
        letters = pages.pop(0) if ids is not None else await list_dead_letters(conn, after_id=after)
        if not letters:
            break
        page = await _republish(conn, kafka, topics, letters)
        done += page.done
        skipped += page.skipped
        after = letters[-1].id
    return Replayed(done, skipped)


async def _republish(
    conn: DbConn, kafka: KafkaAccess, topics: Topics, letters: Sequence[StoredDeadLetter]
) -> Replayed:
    events: list[tuple[int, NotificationEvent]] = []
    skipped: list[tuple[int, str]] = []
    for d in letters:
        try:
            events.append((d.id, replayable(d)))
        except MalformedEvent as exc:
            skipped.append((d.id, str(exc)))
    if not events:
        return Replayed([], skipped)
    producer = durable_producer(kafka)
    await producer.start()
    try:
        for _, event in events:
            await producer.send(topics.channel(event.channel), event.to_bytes(), key=event.key)
        await producer.flush()
    finally:
        await producer.stop()
    done = [i for i, _ in events]
    await mark_replayed(conn, done)
    return Replayed(done, skipped)
