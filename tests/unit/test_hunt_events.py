"""Generators that hunt for the next killer event (design, invariant 7): whatever bytes arrive
on a channel's topic, a retry tier or the dead-letter queue, and whatever a provider answers,
the consumer decides within a bound in time and memory per byte, never raises, and what it
keeps is what PostgreSQL, Kafka and the event's history accept."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from telebill.delivery.batch import Record, triage
from telebill.domain.redact import MAX_ERROR_CHARS, is_printable, redact
from telebill.messaging.dead_letter import parse_dead_letter
from telebill.messaging.events import EVENT_BOUNDS, NotificationEvent
from telebill.messaging.topics import Topics
from tests.bounds import assert_linear
from tests.strategies import hostile_events, provider_errors

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
TOPICS = Topics()
HUNT = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# The killers found so far, kept as permanent examples.
KILLERS = [
    b'{"schema_version": 1, "bill_id": ' + b"7" * 5_000 + b"}",  # int beyond 4,300 digits
    b"[" * 100_000,  # RecursionError in the decoder
    b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
    b'{"schema_version": 1, "bill_id": 1e999}',
    b'{"schema_version": NaN}',
    b'"\xed\xa0\x80"',  # a surrogate in CESU bytes
    b"[" * 33 + b'"' + b'\\"' * 30_000,  # an unclosed string of escaped quotes: quadratic before
]


def storable(value: object) -> bool:
    """What JSONB and a text column accept: valid UTF-8, no NUL, finite numbers."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    return "\x00" not in text and "\\u0000" not in text.replace("\\\\", "")


def decided(raw: bytes, topic: str) -> None:
    """What a channel consumer and then the dead-letter consumer make of one record."""
    record = Record(topic, 0, 5, b"1", raw)
    out = triage({(topic, 0): [record]}, NOW, [TOPICS.retry("email", 1)], timedelta(hours=2))
    assert len(out.dead) + len(out.events) + len(out.holds) == 1
    for dead in out.dead:
        letter = dead.message(TOPICS)
        assert len(letter.value) < 64_000 and letter.topic == TOPICS.dlq
        kept = parse_dead_letter(letter.value, f"{TOPICS.dlq}/0/1")
        assert kept.key == f"src:{topic}/0/5" and kept.reason == redact(dead.reason, 1_000)
        assert storable(kept.event) and storable(kept.reason)
    for _, event in out.events:
        assert NotificationEvent.from_bytes(event.to_bytes()) == event


@HUNT
@given(hostile_events(), st.sampled_from([TOPICS.channel("email"), TOPICS.retry("email", 1)]))
def test_any_record_on_a_channel_topic_is_decided_within_bounds(raw: bytes, topic: str) -> None:
    assert_linear(lambda: decided(raw, topic), len(raw))


def test_the_killers_found_so_far_are_dead_letters_with_a_reason() -> None:
    for raw in KILLERS:
        out = triage({("t", 0): [Record("t", 0, 1, None, raw)]}, NOW, [], timedelta(hours=2))
        assert [d.reason[:8] for d in out.dead] != [] and not out.events, raw[:40]
    reasons = [
        triage({("t", 0): [Record("t", 0, 1, None, raw)]}, NOW, [], timedelta(hours=2))
        .dead[0]
        .reason
        for raw in KILLERS[:2]
    ]
    assert reasons == ["a number of 5,000 characters", "not JSON: nested deeper than 32 levels"]


def test_the_largest_event_the_model_allows_is_read_back() -> None:
    e = NotificationEvent(event_id=uuid.uuid4(), bill_id=7, member_id=42, billing_month="2026-11")
    for i in range(30):
        e = e.failed("\U0001f4e7" * 600 + str(i), NOW)  # each error cut to 500 characters
    escaped = json.dumps(json.loads(e.to_bytes()), ensure_ascii=True).encode()  # surrogate pairs
    assert len(escaped) <= EVENT_BOUNDS.max_bytes
    assert NotificationEvent.from_bytes(escaped) == e


@HUNT
@given(st.one_of(hostile_events().map(lambda b: b), st.binary(max_size=5_000)))
@example(b'{"reason": "x", "event": ' + b"[" * 100_000 + b"}")
@example(b'{"reason": "x", "event": {"bill_id": ' + b"9" * 5_000 + b"}}")
@example(b'{"reason": "' + b"a" * 1_000_000 + b'"}')
@example(b"[" * 70 + b'"' + b'\\"' * 100_000)
def test_anything_on_the_dead_letter_queue_is_recorded_within_bounds(raw: bytes) -> None:
    def recorded() -> None:
        d = parse_dead_letter(raw, "billing.dlq/0/9")
        assert storable(d.event) and storable(d.reason) and d.reason
        assert d.bill_id is None or 1 <= d.bill_id < 2**63

    assert_linear(recorded, len(raw))


@HUNT
@given(provider_errors)
@example("a" * 1_000_000)  # quadratic in the e-mail pattern before: 20,000 characters took 1 s
@example("line one\nline two\tand a tab")  # refused by the history before
@example("x\ud800y")
def test_whatever_a_provider_answers_is_kept_redacted_in_linear_time(error: str) -> None:
    e = NotificationEvent(event_id=uuid.uuid4(), bill_id=7, member_id=42, billing_month="2026-11")

    def kept() -> None:
        text = redact(error)
        assert len(text) <= MAX_ERROR_CHARS and is_printable(text)
        failed = e.failed(error, NOW)  # the history accepts what redact() keeps
        assert NotificationEvent.from_bytes(failed.to_bytes()) == failed

    assert_linear(kept, len(error.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize(
    "hidden",
    [
        "+82\x0010\x001234\x005678",  # control characters between the digits
        "010\ufffd1234\ufffd5678",  # bytes that were not UTF-8
        "Tel.010-1234-5678",
        "H.P.01012345678",
        "(010) 1234-5678",
        "(02) 123-4567",
        "+82 (0)10 1234 5678",
        "010  1234  5678",
        "010 - 1234 - 5678",
        "010\u20101234\u20105678",
        "010\uff0d1234\uff0d5678",
        "010/1234/5678",
        "010_1234_5678",
        "82 10 1234 5678",
        '"john smith"@example.com',
        "someone@localhost",
        "someone@[192.168.0.1]",
        "a" * 80 + "@example.com",
    ],
)
def test_every_way_a_provider_writes_a_number_or_an_address_is_masked(hidden: str) -> None:
    out = redact(f"refused: {hidden} end")
    assert out.endswith("> end") and not any(ch.isdigit() for ch in out), out
    assert "@" not in out and "john" not in out and "aaaa" not in out, out


def test_ids_amounts_instants_and_uuids_stay() -> None:
    text = "bill 3691636263268 amount 54890 at 2026-12-01T00:00:00Z event b3fd5b30-4b67-4fd9"
    assert redact(text) == text


def test_redaction_after_the_cut_leaves_no_part_of_an_address_or_number() -> None:
    for shift in range(0, 40):
        text = "x" * (MAX_ERROR_CHARS - 20 + shift) + " someone.long@example.co.kr +82 10 1234 5678"
        out = redact(text)
        assert "someone" not in out and "example" not in out and "1234" not in out, shift
