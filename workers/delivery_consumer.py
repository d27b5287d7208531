"""The channel consumers of the message platform: `telebill consume email|sms`.

A channel consumer reads its main topic and its retry tiers in one consumer group. Per poll:
triage (telebill/delivery/batch.py: events, dead letters, partitions to hold), load what the
batch needs in a few queries, decide each event's step and render (in a thread), send every
message at once (the provider's latency is waited for concurrently), record the attempts in
one transaction, publish what comes next (retry tier, SMS fallback, dead letters), and only then
commit the offsets: at least once, and the delivery key makes a repeat harmless.

Failure is kept small: whatever is wrong with one event dead-letters that event alone (the
database refusing one of its values included: the batch is split until the culprit is alone);
an outage of PostgreSQL or Kafka is waited out with backoff at the step it struck, so nothing
is sent twice or lost; the background tasks (deferred-event releaser, outcome reporter) are
supervised, and a process that cannot go on exits with a one-line reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

import asyncpg
from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRecord,
    TopicPartition,
)

from telebill import clock
from telebill.channels import channel as get_channel
from telebill.channels.base import DeliveryFailed, Sender
from telebill.channels.links import BillLinks
from telebill.config import Settings
from telebill.db.blackout_store import BlackoutCache
from telebill.db.delivery_store import delivered_keys, load_recipients, record_attempts
from telebill.delivery.batch import (
    Dead,
    Decision,
    Deferral,
    Hold,
    Key,
    Loaded,
    Outcome,
    Record,
    Send,
    Triage,
    decide,
    deferred_attempt,
    fresh,
    next_steps,
    sent_attempt,
    triage,
)
from telebill.delivery.channel_setup import policies, records, sender_for
from telebill.delivery.deferred import DeferredReleaser, defer_events
from telebill.delivery.outcomes import OutcomeReporter, temporal_sink
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.retry import longest_hold
from telebill.errors import TelebillError
from telebill.messaging.consumer import (
    commit_handled,
    group_id,
    measure_lag,
    publish,
    started,
    started_consumer,
)
from telebill.messaging.events import NotificationEvent
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.message import Message
from telebill.messaging.outcome import OutcomeSink
from telebill.messaging.producer import durable_producer
from telebill.messaging.topics import Topics
from telebill.metrics import (
    BATCH_EVENTS,
    BATCH_SECONDS,
    DEAD_LETTERED,
    DEFERRED,
    EVENTS,
    FAILED,
    RUNNING,
    SEND_SECONDS,
    SENT,
    deferral_reason,
)
from telebill.resilience import describe, each_alone, raise_failed, supervise, wait_out
from telebill.templates.bills import load_contexts
from telebill.templates.store import get_template

log = logging.getLogger(__name__)

Todo = dict[Key, tuple[Record, NotificationEvent]]


class ChannelConsumer:
    def __init__(
        self,
        channel: str,
        settings: Settings,
        pool: asyncpg.Pool,
        sender: Sender | None = None,
        rng: random.Random | None = None,
        sink: OutcomeSink | None = None,
    ) -> None:
        self.channel = channel
        self.settings = settings
        self.pool = pool
        self.sender = sender or sender_for(channel, settings, pool)
        self.rng = rng or random.Random()
        self.topics = Topics(settings.topic_prefix)
        self.policies = policies(settings)
        self.longest_hold = longest_hold(self.policies)
        self.gate = asyncio.Semaphore(settings.consumer_max_in_flight)
        self.sink = sink or temporal_sink(settings)
        self.in_flight: set[Key] = set()  # delivery keys being handled right now
        self.sent = 0
        self.deferred = 0
        self.dead = 0
        self.duplicates = 0  # sends the provider refused as already accepted
        self.blackouts = BlackoutCache(settings.system_time_zone, settings.blackout_refresh_s)
        self.links = BillLinks.from_settings(settings)  # each message's link to its bill's page

    def retry_topics(self) -> list[str]:
        retries = self.policies[self.channel].retries
        return [self.topics.retry(self.channel, t) for t in range(1, retries + 1)]

    def subscriptions(self) -> list[str]:
        return [self.topics.channel(self.channel), *self.retry_topics()]

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        consumer = await started_consumer(
            s, group_id(s, self.channel), self.subscriptions(), self.channel, s.consumer_batch
        )
        producer = await wait_out(
            "Kafka (producer start)", lambda: started(durable_producer(kafka_client_kwargs(s)))
        )
        self.releaser = DeferredReleaser(self.pool, producer, lambda: clock.now(s), self.topics.dlq)
        self.reporter = OutcomeReporter(self.pool, self.sink, s.outcome_report_grace_s)
        helpers = [
            asyncio.create_task(
                supervise("deferred-event releaser", lambda: self.releaser.run(stop), stop)
            ),
            asyncio.create_task(
                supervise("outcome reporter", lambda: self.reporter.run(stop), stop)
            ),
            asyncio.create_task(
                supervise(
                    "lag gauge",
                    lambda: measure_lag(consumer, group_id(s, self.channel), stop),
                    stop,
                )
            ),
        ]
        RUNNING.labels(self.channel).set(1)
        # Up to consumer_pipeline batches at once: the next batch is loaded and rendered while
        # the provider's latency of the previous one runs. Offsets are still committed in order.
        slots = asyncio.Semaphore(s.consumer_pipeline)
        previous: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                raise_failed([*helpers, previous])
                await slots.acquire()  # released by process(), or here when nothing came
                batch = await wait_out("Kafka (polling)", lambda: self.poll(consumer))
                if not batch:
                    slots.release()
                    continue
                tri = triage(records(batch), clock.now(s), self.retry_topics(), self.longest_hold)
                for hold in tri.holds:
                    self._hold(consumer, hold)
                previous = asyncio.create_task(
                    self.process(consumer, producer, tri, previous, slots)
                )
        finally:
            RUNNING.labels(self.channel).set(0)
            stop.set()
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)  # in flight: finished
            await asyncio.gather(*helpers, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
            await self.sender.aclose()

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
            for tp, rs in more.items():
                batch.setdefault(tp, []).extend(rs)
                size += len(rs)
        return batch

    def _hold(self, consumer: AIOKafkaConsumer, hold: Hold) -> None:
        tp = TopicPartition(*hold.partition)
        if tp not in consumer.assignment():
            # Moved by a rebalance since the poll: its new owner (or this process's new
            # assignment) starts from the last commit, which a seek here would override.
            return
        consumer.seek(tp, hold.offset)
        consumer.pause(tp)

        def resume() -> None:
            if tp in consumer.assignment():  # a rebalance may have moved it meanwhile
                consumer.resume(tp)

        asyncio.get_running_loop().call_later(max(hold.delay_s, 0.0), resume)

    async def process(
        self,
        consumer: AIOKafkaConsumer,
        producer: AIOKafkaProducer,
        tri: Triage,
        previous: asyncio.Task[None] | None,
        slot: asyncio.Semaphore,
    ) -> None:
        try:
            began = time.perf_counter()
            messages = await self.handle(tri)
            await publish(producer, messages, self.topics)
            BATCH_SECONDS.labels(self.channel).observe(time.perf_counter() - began)
            BATCH_EVENTS.labels(self.channel).observe(len(tri.events) + len(tri.dead))
            if previous is not None:
                await previous  # a batch that failed stops every later commit
            if tri.commit:
                await commit_handled(consumer, tri.commit)
        finally:
            slot.release()

    async def handle(self, tri: Triage) -> list[Message]:
        """Handle a triaged batch; return the messages to publish next."""
        dead = list(tri.dead)
        todo = fresh(tri.events, self.in_flight)
        out: list[Message] = []
        if todo:
            self.in_flight.update(todo)
            try:
                out = await self._deliver(todo, dead)
            finally:
                self.in_flight.difference_update(todo)
        self.dead += len(dead)
        EVENTS.labels(self.channel).inc(len(tri.events) + len(tri.dead))
        DEAD_LETTERED.labels(self.channel).inc(len(dead))
        return [d.message(self.topics) for d in dead] + out

    async def _deliver(self, todo: Todo, dead: list[Dead]) -> list[Message]:
        loaded = await wait_out("PostgreSQL (loading the batch)", lambda: self.load(todo, dead))
        now = clock.now(self.settings)
        topic = self.topics.channel(self.channel)
        ch = get_channel(self.channel)
        decision = await asyncio.to_thread(decide, ch, todo, loaded, now, topic)
        dead += decision.dead
        # those with no address here fail for good at once: the chain's next channel takes them
        outcomes = [*decision.unreachable, *await self.send_all(decision.sends)]
        delivered = await wait_out(
            "PostgreSQL (recording the batch)", lambda: self.record(outcomes, decision, dead)
        )
        for deferral in decision.deferrals:
            DEFERRED.labels(self.channel, deferral_reason(deferral.reason)).inc()
        if decision.deferrals:
            self.deferred += len(decision.deferrals)
            self.releaser.waker.wake()
        if delivered:
            self.reporter.waker.wake()
        sent = sum(1 for o in outcomes if o.attempt.outcome == AttemptOutcome.SENT)
        self.sent += sent
        failures = [o for o in outcomes if o.attempt.outcome == AttemptOutcome.FAILED]
        SENT.labels(self.channel).inc(sent)
        FAILED.labels(self.channel).inc(len(failures))
        log.info(
            "%s consumer: %d sent, %d failed, %d refused as sent before, %d deferred, "
            "%d delivered before, %d dead",
            self.channel,
            sent,
            len(failures),
            len(outcomes) - sent - len(failures),
            len(decision.deferrals),
            decision.delivered_before,
            len(dead),
        )
        return next_steps(
            self.channel, failures, self.policies, self.topics, clock.now(self.settings), self.rng
        )

    async def load(self, todo: Todo, dead: list[Dead]) -> Loaded:
        """What the batch needs, in a few queries. Events whose values the database refuses
        (whatever passed the event model) become dead letters; the others are loaded."""
        async with self.pool.acquire() as conn:

            async def part(keys: Sequence[Key]) -> Loaded:
                async with conn.transaction():
                    bill_ids = [k[0] for k in keys]
                    return Loaded(
                        await delivered_keys(conn, keys),
                        await load_contexts(conn, bill_ids, self.links),
                        await load_recipients(
                            conn, bill_ids, get_channel(self.channel).address_field
                        ),
                        None,
                        None,
                        [],
                    )

            parts, refused = await each_alone(list(todo), part)
            try:
                template, problem = await get_template(conn, self.channel), None
            except TelebillError as missing:
                template, problem = None, str(missing)
            blackouts = await self.blackouts.windows(conn)
        for key, error in refused:
            record, event = todo.pop(key)
            dead.append(Dead.of(f"refused by the database: {describe(error)}", record, event))
        return Loaded(
            set().union(*(p.delivered for p in parts)),
            {b: c for p in parts for b, c in p.contexts.items()},
            {b: r for p in parts for b, r in p.recipients.items()},
            template,
            problem,
            blackouts,
        )

    async def send_all(self, sends: Sequence[Send]) -> list[Outcome]:
        async def one(send: Send) -> Outcome:
            error = note = None
            permanent = False
            e = send.event
            async with self.gate:
                at, started = clock.now(self.settings), time.perf_counter()
                try:
                    # The delivery key: a provider that accepted it once never sends it again.
                    fresh = await self.sender.send(
                        send.address, send.message, idempotency_key=f"{e.bill_id}:{e.purpose}"
                    )
                    if not fresh:
                        self.duplicates += 1
                        note = "accepted before under this idempotency key; not sent again"
                except DeliveryFailed as exc:
                    error, permanent = str(exc), exc.permanent
                except Exception as exc:  # the provider's answer is unknown: try again later
                    error = f"provider call failed: {describe(exc)}"
            seconds = time.perf_counter() - started
            SEND_SECONDS.labels(self.channel).observe(seconds)
            ms = int(seconds * 1000)
            return sent_attempt(self.channel, send, error, ms, note, at, permanent)

        return list(await asyncio.gather(*(one(s) for s in sends)))

    async def record(
        self, outcomes: list[Outcome], decision: Decision, dead: list[Dead]
    ) -> set[Key]:
        """The attempts and deferrals in one transaction; returns the keys delivered now. An
        event whose records the database refuses becomes a dead letter (after a split of the
        batch finds it), the others are recorded as usual."""
        units: list[Outcome | Deferral] = [*outcomes, *decision.deferrals]
        async with self.pool.acquire() as conn, conn.transaction():

            async def part(group: Sequence[Outcome | Deferral]) -> set[Key]:
                attempts = [
                    u.attempt if isinstance(u, Outcome) else deferred_attempt(self.channel, u)
                    for u in group
                ]
                async with conn.transaction():  # a savepoint: a refusal leaves nothing behind
                    delivered = await record_attempts(conn, attempts)
                    await defer_events(conn, [u for u in group if isinstance(u, Deferral)])
                return delivered

            parts, refused = await each_alone(units, part)
        for unit, exc in refused:
            what = "sent, but" if isinstance(unit, Outcome) else "deferred, but"
            outcomes[:] = [o for o in outcomes if o is not unit]
            source = unit.source if isinstance(unit, Outcome) else None
            reason = f"{what} not recorded: refused by the database: {describe(exc)}"
            dead.append(Dead(reason, unit.event, source))
        return set().union(*parts)
