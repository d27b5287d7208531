"""What a channel consumer does with one batch, decided with no Kafka and no I/O in it.

triage():  the records of a poll → events to handle now, dead letters (what is not an event),
           partitions to hold (a retry tier's next event is not due) and the offsets to commit.
fresh():   one event per delivery key, leaving keys another batch is handling.
decide():  with what the consumer loaded for those events → what to send (rendered), defer
           (a send window) or dead-letter (unknown bill, no template, a render that fails …).
next_steps(): after the sends → the retry tier, the fallback channel or the dead-letter queue.

Each event's fate is decided on its own: whatever is wrong with one event makes a dead letter
of that event alone, with a reason a person can act on, and the rest of the batch goes on
exactly as without it (DESIGN invariant 7).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.db.delivery_store import Attempt, Recipient
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.redact import redact
from telebill.domain.retry import DeadLetter, FallBack, Retry, RetryPolicy, after_failure
from telebill.domain.send_window import NoAllowedInstant, Window, earliest_allowed
from telebill.errors import TelebillError
from telebill.messaging.dead_letter import dead_letter_message
from telebill.messaging.events import MalformedEvent, NotificationEvent
from telebill.messaging.message import Message, Partition
from telebill.messaging.topics import Topics
from telebill.rendering.context import BillContext
from telebill.rendering.render import OverTheLimit

Key = tuple[int, str]  # the delivery key: (bill_id, purpose)
COSTLY_RENDERS = 3  # renders past their limits in one batch before the rest are not tried


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def source(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class Dead:
    reason: str
    event: NotificationEvent | None
    source: str | None = None  # the record it stands for: one dead letter per source
    raw: bytes | None = None  # what was not an event
    key: bytes | None = None

    @classmethod
    def of(cls, reason: str, record: Record, event: NotificationEvent | None = None) -> Dead:
        raw = (record.value or b"") if event is None else None
        return cls(reason, event, record.source, raw, record.key)

    def message(self, topics: Topics) -> Message:
        value = dead_letter_message(self.reason, self.event, self.raw, self.source)
        return Message(topics.dlq, self.event.key if self.event else self.key, value)


@dataclass(frozen=True)
class Hold:
    partition: Partition
    offset: int  # the first offset not handled: the partition resumes there
    delay_s: float


@dataclass
class Triage:
    events: list[tuple[Record, NotificationEvent]] = field(default_factory=list)
    dead: list[Dead] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    commit: dict[Partition, int] = field(default_factory=dict)


def triage(
    batch: Mapping[Partition, Sequence[Record]],
    now: datetime,
    retry_topics: Iterable[str],
    longest_hold: timedelta,
) -> Triage:
    """Sort a poll's records. A retry tier's partition whose next event is not due yet is held
    from that event on (the events behind it share its delay, so they are not due either), for
    no longer than `longest_hold`; a record that is not a valid event is a dead letter."""
    retry = set(retry_topics)
    out = Triage()
    for tp, records in batch.items():
        for record in records:
            try:
                event = NotificationEvent.received(
                    record.value, record.topic in retry, now, longest_hold
                )
            except MalformedEvent as exc:
                out.dead.append(Dead.of(str(exc), record))
            except Exception as exc:  # a decoder's fault we did not foresee: still this record's
                out.dead.append(Dead.of(f"unreadable event: {type(exc).__name__}", record))
            else:
                if event.not_before is not None and event.not_before > now:
                    delay = min(
                        (event.not_before - now).total_seconds(), longest_hold.total_seconds()
                    )
                    out.holds.append(Hold(tp, record.offset, delay))
                    break
                out.events.append((record, event))
            out.commit[tp] = record.offset + 1
    return out


def fresh(
    events: Iterable[tuple[Record, NotificationEvent]], busy: set[Key]
) -> dict[Key, tuple[Record, NotificationEvent]]:
    """One event per delivery key (a duplicate in the batch is left to the first), none whose
    key an earlier batch still in flight handles (that one records it; this one's repeat is
    harmless)."""
    out: dict[Key, tuple[Record, NotificationEvent]] = {}
    for record, event in events:
        key = (event.bill_id, event.purpose)
        if key not in busy:
            out.setdefault(key, (record, event))
    return out


@dataclass(frozen=True)
class Loaded:
    """What a consumer read from PostgreSQL for a batch (in a few queries)."""

    delivered: set[Key]
    contexts: Mapping[int, BillContext]
    recipients: Mapping[int, Recipient]
    template: TemplateSource | None
    template_problem: str | None  # why there is no template
    blackouts: Sequence[Window]


@dataclass(frozen=True)
class Deferral:
    """An event inside a send window: kept until `due_at`, then published to `topic` again."""

    event: NotificationEvent
    topic: str
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Send:
    event: NotificationEvent
    source: str
    address: str
    message: RenderedMessage


@dataclass(frozen=True)
class Unreachable:
    """The member has no address on this channel (no app for push): the chain moves on."""

    event: NotificationEvent
    source: str
    reason: str


@dataclass
class Decision:
    sends: list[Send] = field(default_factory=list)
    deferrals: list[Deferral] = field(default_factory=list)
    dead: list[Dead] = field(default_factory=list)
    unreachable: list[Outcome] = field(default_factory=list)  # failed for good, not sent
    delivered_before: int = 0


def decide(
    channel: Channel,
    todo: Mapping[Key, tuple[Record, NotificationEvent]],
    loaded: Loaded,
    now: datetime,
    topic: str,
) -> Decision:
    """Each event: delivered before (nothing to do), dead (with why), deferred to the next
    allowed instant, or rendered and ready to send. Rendering is CPU work: call this in a
    thread so the event loop keeps its heartbeats."""
    out = Decision()
    costly: list[str] = []  # the template went past its limits for these bills
    for key, (record, e) in todo.items():
        if key in loaded.delivered:
            out.delivered_before += 1
            continue
        if len(costly) >= COSTLY_RENDERS:
            # Each such render takes up to the render's time limit: a batch of thousands would
            # hold the consumer for as many half-seconds, past Kafka's poll interval, and the
            # whole channel with it. The rest of the batch is dead-lettered (to be replayed once
            # the template is fixed); the next batch tries again.
            step: Send | Deferral | Unreachable | str = (
                f"{channel.name} message not rendered: the active template went past its "
                f"limits for {len(costly)} bills of this batch (first: {costly[0]})"
            )
        else:
            try:
                step = _decide_one(channel, e, loaded, now, topic, record.source)
            except OverTheLimit as exc:
                costly.append(str(exc))
                step = f"{channel.name} message could not be rendered: {exc}"
            except Exception as exc:  # anything about this event harms this event alone
                why = str(exc) if isinstance(exc, TelebillError) else f"{type(exc).__name__}: {exc}"
                step = f"{channel.name} message could not be rendered: {why}"
        if isinstance(step, str):
            out.dead.append(Dead.of(step, record, e))
        elif isinstance(step, Unreachable):
            attempt = Attempt(
                e.bill_id, e.purpose, channel.name, e.attempt, AttemptOutcome.FAILED, step.reason
            )
            out.unreachable.append(Outcome(e, step.source, attempt, permanent=True))
        elif isinstance(step, Deferral):
            out.deferrals.append(step)
        else:
            out.sends.append(step)
    return out


def _decide_one(
    channel: Channel,
    e: NotificationEvent,
    loaded: Loaded,
    now: datetime,
    topic: str,
    source: str,
) -> Send | Deferral | Unreachable | str:
    """The event's step, or why it is a dead letter."""
    context = loaded.contexts.get(e.bill_id)
    recipient = loaded.recipients.get(e.bill_id)
    if context is None or recipient is None:
        return f"unknown bill {e.bill_id}"
    if not recipient.address:
        return Unreachable(e, source, f"member {e.member_id} has no {channel.name} address")
    if loaded.template is None:
        return loaded.template_problem or f"no active {channel.name} template"
    windows = [*loaded.blackouts, *([recipient.quiet_hours] if recipient.quiet_hours else [])]
    try:
        allowed = earliest_allowed(now, windows)
    except NoAllowedInstant as exc:
        return str(exc)
    if allowed > now:
        inside = ", ".join(w.label() for w in windows if w.instance_around(now))
        reason = f"inside {inside}; deferred to {allowed.isoformat()}"
        return Deferral(e.model_copy(update={"not_before": None}), topic, allowed, reason)
    return Send(e, source, recipient.address, channel.render(loaded.template, context))


@dataclass(frozen=True)
class Outcome:
    event: NotificationEvent
    source: str
    attempt: Attempt
    permanent: bool = False  # the provider said retrying cannot help


def sent_attempt(
    channel: str,
    send: Send,
    error: str | None,
    latency_ms: int,
    note: str | None = None,
    at: datetime | None = None,
    permanent: bool = False,
) -> Outcome:
    """The attempt of a send that started `at`: SENT, or FAILED with the provider's error
    (redacted; `permanent` when retrying cannot help). `note` says something of a SENT one
    (the provider had accepted it before)."""
    e, m = send.event, send.message
    outcome = (
        AttemptOutcome.FAILED
        if error
        else (AttemptOutcome.DUPLICATE if note else AttemptOutcome.SENT)
    )
    return Outcome(
        e,
        send.source,
        Attempt(
            e.bill_id,
            e.purpose,
            channel,
            e.attempt,
            outcome,
            redact(error) if error else note,
            m.template_code,
            m.template_version,
            m.kind,
            latency_ms,
            at,
        ),
        permanent,
    )


def deferred_attempt(channel: str, d: Deferral) -> Attempt:
    e = d.event
    return Attempt(e.bill_id, e.purpose, channel, e.attempt, AttemptOutcome.DEFERRED, d.reason)


def next_steps(
    channel: str,
    failures: Sequence[Outcome],
    policies: Mapping[str, RetryPolicy],
    topics: Topics,
    now: datetime,
    rng: random.Random,
) -> list[Message]:
    """Where each failed event goes: its next retry tier, the fallback channel, or the DLQ."""
    out: list[Message] = []
    for o in failures:
        failed = o.event.failed(o.attempt.error or "failed", now)
        step = after_failure(
            channel, o.event.attempt, policies, rng, o.event.channel_chain, o.permanent
        )
        if isinstance(step, Retry):
            nxt = failed.model_copy(
                update={"attempt": o.event.attempt + 1, "not_before": now + step.delay}
            )
            out.append(Message(topics.retry(channel, step.tier), nxt.key, nxt.to_bytes()))
        elif isinstance(step, FallBack):
            nxt = failed.model_copy(
                update={"channel": step.channel, "attempt": 1, "not_before": None}
            )
            out.append(Message(topics.channel(step.channel), nxt.key, nxt.to_bytes()))
        elif isinstance(step, DeadLetter):
            out.append(Dead(step.reason, failed, o.source).message(topics))
    return out
