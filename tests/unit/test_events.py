"""The Kafka event: round trip, small, and malformed input refused with a reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from telebill.messaging.events import MAX_HISTORY, MalformedEvent, NotificationEvent
from tests.strategies import near_events

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def event(**kw: object) -> NotificationEvent:
    base: dict[str, object] = {
        "event_id": uuid.uuid4(),
        "bill_id": 7,
        "member_id": 42,
        "billing_month": "2026-11",
    }
    base.update(kw)
    return NotificationEvent.model_validate(base)


def test_round_trip_key_and_delivery_key() -> None:
    e = event().failed("smtp 451", NOW)
    again = NotificationEvent.from_bytes(e.to_bytes())
    assert again == e
    assert e.key == b"42" and e.delivery_key == "7:MONTHLY_BILL"
    assert len(e.to_bytes()) < 400  # ids and attempt data only


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"schema_version": 2}', "unsupported schema_version 2"),
        (b'{"schema_version": 1, "bill_id": 1}', "invalid field event_id"),
    ],
)
def test_malformed_input_is_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason):
        NotificationEvent.from_bytes(raw)


def test_unknown_fields_and_bad_values_are_refused() -> None:
    good = event().model_dump(mode="json")
    for bad in ({"html": "<p>"}, {"billing_month": "2026-13"}, {"bill_id": 0}, {"channel": "fax"}):
        with pytest.raises(MalformedEvent):
            NotificationEvent.from_bytes(json.dumps({**good, **bad}).encode())


def test_history_is_bounded() -> None:
    e = event()
    for n in range(MAX_HISTORY + 8):
        e = e.failed(f"error {n}", NOW)
    assert len(e.history) == MAX_HISTORY == 24  # four channels of six attempts
    assert e.history[-1].error == f"error {MAX_HISTORY + 7}"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"bill_id": 2**63}, "bill_id"),  # beyond PostgreSQL's bigint: refused here, not mid-batch
        ({"member_id": 2**64 + 1}, "member_id"),
        ({"attempt": 7}, "attempt"),  # the longest chain has 1 + 5 attempts per channel
        ({"purpose": "SPAM"}, "purpose"),
        ({"purpose": "MONTHLY_BILL\x00"}, "purpose"),
        ({"purpose": "RESEND-0"}, "purpose"),
    ],
)
def test_values_the_database_cannot_hold_or_no_real_event_has_are_refused(
    bad: dict[str, object], field: str
) -> None:
    raw = json.dumps({**event().model_dump(mode="json"), **bad}).encode()
    with pytest.raises(MalformedEvent, match=f"invalid field {field}"):
        NotificationEvent.from_bytes(raw)


def test_control_characters_in_a_history_note_are_refused() -> None:
    note = {"channel": "email", "attempt": 1, "error": "bad\x00byte", "at": NOW.isoformat()}
    raw = json.dumps({**event().model_dump(mode="json"), "history": [note]}).encode()
    with pytest.raises(MalformedEvent, match="history"):
        NotificationEvent.from_bytes(raw)


def test_deeply_nested_json_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedEvent, match="not JSON"):
        NotificationEvent.from_bytes(b"[" * 100_000)


def test_a_failed_attempt_keeps_no_address_in_the_history() -> None:
    e = event().failed("550 mailbox kim@example.com full; sms to 010-1234-5678 refused", NOW)
    assert e.history[-1].error == "550 mailbox <email> full; sms to <phone> refused"


def test_not_before_only_on_a_retry_tier_and_never_further_than_the_longest_delay() -> None:
    longest = timedelta(hours=1)
    soon = event(not_before=NOW + timedelta(minutes=30)).to_bytes()
    assert NotificationEvent.received(soon, True, NOW, longest).not_before is not None
    with pytest.raises(MalformedEvent, match="main topic"):
        NotificationEvent.received(soon, False, NOW, longest)
    far = event(not_before=NOW + timedelta(days=365)).to_bytes()
    with pytest.raises(MalformedEvent, match="longest retry delay"):
        NotificationEvent.received(far, True, NOW, longest)
    assert NotificationEvent.received(event().to_bytes(), False, NOW, longest).not_before is None


@given(near_events())
def test_any_bytes_are_an_event_within_bounds_or_malformed(raw: bytes) -> None:
    try:
        e = NotificationEvent.from_bytes(raw)
    except MalformedEvent:
        return
    assert 1 <= e.bill_id < 2**63 and 1 <= e.member_id < 2**63 and 1 <= e.attempt <= 6


def test_an_event_keeps_its_chain_and_one_from_before_chains_reads_as_email_then_sms() -> None:
    assert b'"chain"' not in event().to_bytes()  # what a consumer from before chains reads
    old = json.loads(event().to_bytes())
    assert NotificationEvent.model_validate(old).chain == ("email", "sms")
    mine = event().model_copy(update={"chain": ("alimtalk", "email", "sms")})
    again = NotificationEvent.from_bytes(mine.to_bytes())
    assert again.channel_chain.after("alimtalk") == "email"
    off_chain = old | {"channel": "push"}
    with pytest.raises(MalformedEvent, match="not in its chain"):
        NotificationEvent.from_bytes(json.dumps(off_chain).encode())
