"""The message platform's consumers: `telebill consume email|sms|dlq`.

A channel consumer reads its main topic and its retry tiers in one consumer group. Per poll it
loads what the batch needs in a few queries (delivered keys, bills, items, members, the active
template), sends every event of the batch at once (the provider's latency is waited for
concurrently, never one after another), records the attempts in one transaction, publishes what
comes next (a retry tier, the SMS fallback, the dead-letter queue), and only then commits the
offsets: at least once, and the delivery key makes a repeat harmless.

A retry tier's events carry `not_before`; a partition whose next event is not due is paused and
resumed when it is (its events share one delay, so those behind it are not due either), while
the other partitions go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, IllegalStateError
from temporalio.client import Client

from telebill import clock
from telebill.channels import channel as get_channel
from telebill.channels.base import DeliveryFailed, SimulatedSender
from telebill.config import Settings
from telebill.db.blackout_store import BlackoutCache
from telebill.delivery.deferred import Deferral, DeferredReleaser, defer_events
from telebill.delivery.outcomes import OutcomeReporter, TemporalOutcomeSink
from telebill.delivery.store import (
    Attempt,
    DeadLetterRecord,
    delivered_keys,
    load_recipients,
    record_attempts,
    record_dead_letters,
)
from telebill.domain.retry import DeadLetter, FallBack, Retry, RetryPolicy, after_failure
from telebill.domain.send_window import NoAllowedInstant, earliest_allowed
from telebill.messaging.events import MalformedEvent, NotificationEvent
from telebill.messaging.outcome import OutcomeSink
from telebill.messaging.producer import durable_producer
from telebill.messaging.topics import Topics
from telebill.templates.bills import load_contexts
from telebill.templates.store import get_template

log = logging.getLogger(__name__)


def policies(settings: Settings) -> dict[str, RetryPolicy]:
    base, factor = settings.retry_base_delay_s, settings.retry_factor
    return {
        "email": RetryPolicy(settings.email_retries, base, factor),
        "sms": RetryPolicy(settings.sms_retries, base, factor),
    }


def sender_for(channel: str, settings: Settings) -> SimulatedSender:
    failing = frozenset(a.strip() for a in settings.fail_addresses.split(",") if a.strip())
    if channel == "email":
        return SimulatedSender(settings.email_latency_s, settings.email_failure_rate, failing)
    return SimulatedSender(settings.sms_latency_s, settings.sms_failure_rate, failing)


def dead_letter_message(reason: str, event: NotificationEvent | None, raw: bytes | None) -> bytes:
    errors = [n.error for n in event.history] if event else []
    return json.dumps(
        {
            "reason": reason,
            "event": json.loads(event.model_dump_json()) if event else None,
            "raw": raw.decode("utf-8", "replace") if raw is not None and event is None else None,
            "first_error": errors[0] if errors else None,
            "last_error": errors[-1] if errors else None,
        },
        ensure_ascii=False,
    ).encode()


Ready = tuple[ConsumerRecord, NotificationEvent | None, str | None]  # event or why it is not one


@dataclass
class Outcome:
    event: NotificationEvent
    attempt: Attempt


class ChannelConsumer:
    def __init__(
        self,
        channel: str,
        settings: Settings,
        pool: asyncpg.Pool,
        sender: SimulatedSender | None = None,
        rng: random.Random | None = None,
        sink: OutcomeSink | None = None,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.pool = pool
        self.sender = sender or sender_for(channel, settings)
        self.rng = rng or random.Random()
        self.topics = Topics(settings.topic_prefix)
        self.policies = policies(settings)
        self.gate = asyncio.Semaphore(settings.consumer_max_in_flight)
        self.sink = sink or temporal_sink(settings)
        self.in_flight: set[tuple[int, str]] = set()  # delivery keys being handled right now
        self.sent = 0
        self.deferred = 0
        self.blackouts = BlackoutCache(settings.system_time_zone, settings.blackout_refresh_s)

    def subscriptions(self) -> list[str]:
        retries = self.policies[self.channel].retries
        return [self.topics.channel(self.channel)] + [
            self.topics.retry(self.channel, t) for t in range(1, retries + 1)
        ]

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_servers,
            group_id=group_id(s, self.channel),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.consumer_batch,
        )
        consumer.subscribe(self.subscriptions(), listener=AssignmentLog(self.channel))
        producer = durable_producer(s.kafka_servers)
        await producer.start()
        await consumer.start()
        self.releaser = DeferredReleaser(self.pool, producer, lambda: clock.now(s))
        self.reporter = OutcomeReporter(self.pool, self.sink, s.outcome_report_grace_s)
        helpers = [
            asyncio.create_task(self.releaser.run(stop)),
            asyncio.create_task(self.reporter.run(stop)),
        ]
        # Up to consumer_pipeline batches at once: the next batch is loaded and rendered while
        # the provider's latency of the previous one runs. Offsets are still committed in order.
        slots = asyncio.Semaphore(s.consumer_pipeline)
        previous: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                if previous is not None and previous.done() and previous.exception():
                    raise previous.exception()  # type: ignore[misc]
                await slots.acquire()  # released by process(), or here when nothing came
                batch = await self.poll(consumer)
                if not batch:
                    slots.release()
                    continue
                ready, commit = self.classify(consumer, batch)
                previous = asyncio.create_task(
                    self.process(consumer, producer, ready, commit, previous, slots)
                )
        finally:
            stop.set()
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)  # in flight: finished
            await asyncio.gather(*helpers, return_exceptions=True)
            await consumer.stop()
            await producer.stop()

    async def poll(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[ConsumerRecord]]:
        """A batch of up to consumer_batch events: a single fetch returns far fewer, and each
        batch costs one provider latency, so keep fetching for a moment."""
        batch: dict[TopicPartition, list[ConsumerRecord]] = await consumer.getmany(timeout_ms=500)
        size = sum(len(r) for r in batch.values())
        loop = asyncio.get_running_loop()
        until = loop.time() + 0.2
        while batch and size < self.settings.consumer_batch and loop.time() < until:
            more = await consumer.getmany(
                timeout_ms=50, max_records=self.settings.consumer_batch - size
            )
            if not more:
                break
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                size += len(records)
        return batch

    def classify(
        self, consumer: AIOKafkaConsumer, batch: dict[TopicPartition, list[ConsumerRecord]]
    ) -> tuple[list[Ready], dict[TopicPartition, int]]:
        """The events of the batch to handle now, and the offsets to commit once they are.
        A retry tier's partition whose next event is not due is held (paused) until it is."""
        now = clock.now(self.settings)
        ready: list[Ready] = []
        commit: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                try:
                    event: NotificationEvent | None = NotificationEvent.from_bytes(record.value)
                    problem = None
                except MalformedEvent as exc:
                    event, problem = None, str(exc)
                if event and event.not_before and event.not_before > now:
                    self._hold(
                        consumer, tp, record.offset, (event.not_before - now).total_seconds()
                    )
                    break
                ready.append((record, event, problem))
                commit[tp] = record.offset + 1
        return ready, commit

    async def process(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        ready: list[Ready],
        commit: dict[TopicPartition, int],
        previous: asyncio.Task[None] | None,
        slot: asyncio.Semaphore,
    ) -> None:
        try:
            follow_ups = await self.deliver(ready)
            await asyncio.gather(*[await producer.send(t, v, key=k) for t, k, v in follow_ups])
            if previous is not None:
                await previous  # a batch that failed stops every later commit
            if commit:
                await commit_handled(consumer, commit)
        finally:
            slot.release()

    def _hold(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, delay: float
    ) -> None:
        consumer.seek(tp, offset)
        consumer.pause(tp)

        def resume() -> None:
            if tp in consumer.assignment():  # a rebalance may have moved it meanwhile
                consumer.resume(tp)

        asyncio.get_running_loop().call_later(max(delay, 0.0), resume)

    async def deliver(self, ready: Sequence[Ready]) -> list[tuple[str, bytes | None, bytes]]:
        """Send the batch; return the messages to publish next (topic, key, value)."""
        out: list[tuple[str, bytes | None, bytes]] = []
        events: dict[tuple[int, str], NotificationEvent] = {}
        for record, event, problem in ready:
            if event is None:
                dead = dead_letter_message(problem or "?", None, record.value)
                out.append((self.topics.dlq, record.key, dead))
            elif (event.bill_id, event.purpose) not in self.in_flight:
                # a duplicate in this batch, or in an earlier one still in flight, is left to it
                events.setdefault((event.bill_id, event.purpose), event)
        if not events:
            return out
        self.in_flight.update(events)
        try:
            return out + await self._deliver(events)
        finally:
            self.in_flight.difference_update(events)

    async def _deliver(
        self, events: dict[tuple[int, str], NotificationEvent]
    ) -> list[tuple[str, bytes | None, bytes]]:
        out: list[tuple[str, bytes | None, bytes]] = []
        async with self.pool.acquire() as conn:
            done = await delivered_keys(conn, list(events))
            todo = {k: e for k, e in events.items() if k not in done}
            bill_ids = [e.bill_id for e in todo.values()]
            contexts = await load_contexts(conn, bill_ids)
            recipients = await load_recipients(conn, bill_ids, self.channel)
            template = await get_template(conn, self.channel)
            blackouts = await self.blackouts.windows(conn)
        now = clock.now(self.settings)
        sendable: list[NotificationEvent] = []
        deferrals: list[Deferral] = []
        for e in todo.values():
            if e.bill_id not in contexts:
                dead = dead_letter_message(f"unknown bill {e.bill_id}", e, None)
                out.append((self.topics.dlq, e.key, dead))
                continue
            quiet = recipients[e.bill_id].quiet_hours
            windows = [*blackouts, *([quiet] if quiet else [])]
            try:
                allowed = earliest_allowed(now, windows)
            except NoAllowedInstant as exc:
                out.append((self.topics.dlq, e.key, dead_letter_message(str(exc), e, None)))
                continue
            if allowed > now:
                inside = ", ".join(w.label() for w in windows if w.instance_around(now))
                reason = f"inside {inside}; deferred to {allowed.isoformat()}"
                plain = e.model_copy(update={"not_before": None})
                deferrals.append(
                    Deferral(plain, self.topics.channel(self.channel), allowed, reason)
                )
            else:
                sendable.append(e)
        ch = get_channel(self.channel)

        async def one(e: NotificationEvent) -> Outcome:
            message = ch.render(template, contexts[e.bill_id])
            started = time.perf_counter()
            error = None
            async with self.gate:
                try:
                    await self.sender.send(recipients[e.bill_id].address, message)
                except DeliveryFailed as exc:
                    error = str(exc)
            ms = int((time.perf_counter() - started) * 1000)
            return Outcome(
                e,
                Attempt(
                    e.bill_id,
                    e.purpose,
                    self.channel,
                    e.attempt,
                    "FAILED" if error else "SENT",
                    error,
                    template.code,
                    template.version,
                    message.kind,
                    ms,
                ),
            )

        outcomes = await asyncio.gather(*(one(e) for e in sendable))
        waits = [
            Attempt(
                d.event.bill_id,
                d.event.purpose,
                self.channel,
                d.event.attempt,
                "DEFERRED",
                d.reason,
            )
            for d in deferrals
        ]
        async with self.pool.acquire() as conn, conn.transaction():
            delivered = await record_attempts(conn, [o.attempt for o in outcomes] + waits)
            await defer_events(conn, deferrals)
        if deferrals:
            self.deferred += len(deferrals)
            self.releaser.waker.wake()
        if delivered:
            self.reporter.waker.wake()
        sent = sum(1 for o in outcomes if o.attempt.outcome == "SENT")
        self.sent += sent
        log.info(
            "%s consumer: %d sent, %d failed, %d deferred, %d delivered before",
            self.channel,
            sent,
            len(outcomes) - sent,
            len(deferrals),
            len(done),
        )
        out += self.next_steps([o for o in outcomes if o.attempt.outcome != "SENT"])
        return out

    def next_steps(self, failures: Sequence[Outcome]) -> list[tuple[str, bytes | None, bytes]]:
        """Where each failed event goes: its next retry tier, the fallback channel, or the DLQ."""
        out: list[tuple[str, bytes | None, bytes]] = []
        now = clock.now(self.settings)
        for o in failures:
            failed = o.event.failed(o.attempt.error or "failed", now)
            step = after_failure(self.channel, o.event.attempt, self.policies, self.rng)  # type: ignore[arg-type]
            if isinstance(step, Retry):
                nxt = failed.model_copy(
                    update={"attempt": o.event.attempt + 1, "not_before": now + step.delay}
                )
                out.append((self.topics.retry(self.channel, step.tier), nxt.key, nxt.to_bytes()))
            elif isinstance(step, FallBack):
                nxt = failed.model_copy(
                    update={"channel": step.channel, "attempt": 1, "not_before": None}
                )
                out.append((self.topics.channel(step.channel), nxt.key, nxt.to_bytes()))
            elif isinstance(step, DeadLetter):
                out.append(
                    (self.topics.dlq, failed.key, dead_letter_message(step.reason, failed, None))
                )
        return out


async def commit_handled(
    consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int] | None = None
) -> None:
    """Commit what was handled. When a rebalance gave the partitions to another process
    meanwhile, the commit is refused: that process handles the events again and their
    delivery keys keep them from being sent twice."""
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as exc:
        log.warning("offsets not committed (%s); the new owner re-handles them", exc)


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


def temporal_sink(settings: Settings) -> TemporalOutcomeSink:
    async def connect() -> Client:
        return await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)

    return TemporalOutcomeSink(connect)


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
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_servers,
            group_id=group_id(s, "dlq"),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        consumer.subscribe([Topics(s.topic_prefix).dlq], listener=AssignmentLog("dlq"))
        await consumer.start()
        reporting = asyncio.create_task(self.reporter.run(stop))
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                letters = [
                    parse_dead_letter(r.value) for records in batch.values() for r in records
                ]
                if letters:
                    async with self.pool.acquire() as conn:
                        await record_dead_letters(conn, letters)
                    self.recorded += len(letters)
                    self.reporter.waker.wake()
                    await commit_handled(consumer)
        finally:
            stop.set()
            await reporting
            await consumer.stop()


def parse_dead_letter(raw: bytes | None) -> DeadLetterRecord:
    try:
        data = json.loads(raw or b"")
        event = data.get("event") or {}
        return DeadLetterRecord(
            event=event or {"raw": data.get("raw")},
            reason=str(data.get("reason") or "unknown"),
            bill_id=event.get("bill_id"),
            purpose=event.get("purpose"),
            first_error=data.get("first_error"),
            last_error=data.get("last_error"),
        )
    except (ValueError, AttributeError):
        text = (raw or b"").decode("utf-8", "replace")
        return DeadLetterRecord({"raw": text}, "unreadable dead letter", None, None, None, None)
