"""Kafka for the consumers: a consumer of a group started once Kafka answers, publishing that
waits out an outage and only sends again what was not acknowledged, and committing what was
handled (refused after a rebalance: the partitions' new owner handles them again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from telebill.config import Settings
from telebill.messaging.dead_letter import dead_letter_message
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.message import Message, Partition
from telebill.messaging.topics import Topics
from telebill.metrics import LAG
from telebill.resilience import describe, is_outage, wait_out

log = logging.getLogger(__name__)


async def started(client: AIOKafkaProducer) -> AIOKafkaProducer:
    await client.start()
    return client


async def started_consumer(
    s: Settings, group: str, topics: list[str], kind: str, max_records: int | None = None
) -> AIOKafkaConsumer:
    """A consumer of the group, started once Kafka answers (waited for with backoff)."""

    async def start() -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            **kafka_client_kwargs(s),
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **({"max_poll_records": max_records} if max_records else {}),
        )
        consumer.subscribe(topics, listener=AssignmentLog(kind))
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    return await wait_out("Kafka (consumer start)", start)


async def publish(producer: AIOKafkaProducer, messages: Sequence[Message], topics: Topics) -> None:
    """Publish and wait for every acknowledgement; an outage is waited out and only what was
    not acknowledged is sent again. A message Kafka refuses on its own (too large) becomes a
    small dead letter that says so."""
    pending = list(messages)

    async def once() -> None:
        sent: list[tuple[Message, asyncio.Future[object]]] = []
        for m in list(pending):
            try:
                sent.append((m, await producer.send(m.topic, m.value, key=m.key)))
            except Exception as exc:
                if is_outage(exc) or (m.topic == topics.dlq and len(m.value) < 1_000):
                    raise
                pending.remove(m)
                pending.append(refused_message(m, exc, topics))
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        for (m, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                pending.remove(m)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    if pending:
        await wait_out("Kafka (publishing)", once)


def refused_message(m: Message, exc: Exception, topics: Topics) -> Message:
    reason = f"a message for {m.topic} was refused by Kafka: {describe(exc)}"
    return Message(topics.dlq, m.key, dead_letter_message(reason, None, m.value[:256]))


async def commit_handled(
    consumer: AIOKafkaConsumer, offsets: dict[Partition, int] | None = None
) -> None:
    """Commit what was handled (`offsets`; None: every position consumed so far).

    Only the partitions this process still owns are committed. A batch may hold records read
    before a rebalance that moved some of its partitions away and records read after it, on
    partitions it kept: aiokafka refuses a commit naming a partition it no longer owns as a
    whole, and the kept partitions, whose positions are already past those records, would
    then never be committed (nothing reads them again). What moved away is read again from
    its last commit by its new owner, and the delivery keys keep it from being sent twice.
    When the broker refuses the commit (a rebalance under way), it is the same: the group's
    new assignment starts every partition at its last commit."""

    async def once() -> None:
        if offsets is None:
            await consumer.commit()
            return
        owned = consumer.assignment()
        mine = {tp: o for p, o in offsets.items() if (tp := TopicPartition(*p)) in owned}
        if mine:  # never commit({}): aiokafka reads it as "every consumed position"
            await consumer.commit(mine)

    try:
        await wait_out("Kafka (commit)", once)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("offsets not committed (%s); they are handled again", exc)


class AssignmentLog(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, kind: str) -> None:
        self.kind = kind

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        parts = list(assigned)
        log.info("%s consumer: assigned %d partitions", self.kind, len(parts))


def group_id(settings: Settings, kind: str) -> str:
    """The consumer group of one kind of consumer (email, sms, dlq)."""
    return f"{settings.topic_prefix}telebill-{kind}"


LAG_EVERY_S = 5.0


async def measure_lag(consumer: AIOKafkaConsumer, group: str, stop: asyncio.Event) -> None:
    """Keep the lag gauge of the partitions this process owns: the end offset Kafka last
    reported minus the next offset to fetch (what is fetched and in hand is not counted, at
    most a pipeline of batches). Local figures only: no request to Kafka."""
    while not stop.is_set():
        per_topic = dict.fromkeys(consumer.subscription(), 0)
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None:  # nothing fetched from it yet
                continue
            try:
                position = await asyncio.wait_for(consumer.position(tp), LAG_EVERY_S)
            except (IllegalStateError, TimeoutError):  # revoked, or a rebalance under way
                continue
            per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, end - position)
        for topic, lag in per_topic.items():
            LAG.labels(group, topic).set(lag)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LAG_EVERY_S)
