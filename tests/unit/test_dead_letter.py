"""Dead letters on Kafka: whatever arrives on the DLQ topic can be recorded, Telebill's own keep
their reason, event and errors, and nothing carries an address or phone number."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from telebill.db.dead_letter_store import StoredDeadLetter
from telebill.delivery.replay import replayable
from telebill.domain.redact import redact
from telebill.messaging.dead_letter import dead_letter_message, parse_dead_letter
from telebill.messaging.events import NotificationEvent

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


def storable(value: object) -> bool:
    """What JSONB and a text column accept: no NUL, no lone surrogate, no NaN."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    return "\\u0000" not in text and "\x00" not in text


@given(st.binary(max_size=2_000))
def test_any_bytes_become_a_record_postgresql_can_hold(raw: bytes) -> None:
    d = parse_dead_letter(raw, "t.billing.dlq/0/5")
    assert storable(d.event) and storable(d.reason) and d.key == "dlq:t.billing.dlq/0/5"
    assert d.bill_id is None


@given(st.dictionaries(st.text(max_size=10), st.text() | st.integers() | st.floats(), max_size=6))
def test_letters_from_another_producer_are_kept_with_a_reason(data: dict[str, object]) -> None:
    d = parse_dead_letter(json.dumps(data).encode(), "dlq/1/2")
    assert storable(d.event) and d.reason and storable(d.reason)
    assert d.bill_id is None or 1 <= d.bill_id < 2**63


def test_our_letter_keeps_its_event_errors_and_source() -> None:
    e = NotificationEvent(event_id=uuid.uuid4(), bill_id=7, member_id=42, billing_month="2026-11")
    e = e.failed("smtp 451", NOW).failed("sms 500", NOW)
    d = parse_dead_letter(
        dead_letter_message("sms failed 4 times", e, None, "sms.retry.3/2/9"), "x"
    )
    assert (d.key, d.bill_id, d.purpose) == ("src:sms.retry.3/2/9", 7, "MONTHLY_BILL")
    assert (d.first_error, d.last_error) == ("smtp 451", "sms 500")
    assert d.event["bill_id"] == 7


def test_nul_bytes_surrogates_and_nan_are_made_storable() -> None:
    letter = b'{"reason": "bad\\u0000", "event": {"bill_id": 1e999, "x": "\\ud800", "y": NaN}}'
    d = parse_dead_letter(letter, "dlq/0/1")
    assert storable(d.event) and d.reason == "bad " and d.bill_id is None


def test_a_bill_id_beyond_bigint_is_no_bill() -> None:
    d = parse_dead_letter(
        json.dumps({"reason": "x", "event": {"bill_id": 2**64}}).encode(), "d/0/1"
    )
    assert d.bill_id is None and d.event["bill_id"] == 2**64


def test_reasons_and_raw_text_name_no_person() -> None:
    letter = dead_letter_message("refused kim@example.com", None, b"to 010-9876-5432", "s/0/1")
    assert b"example.com" not in letter and b"9876" not in letter
    assert json.loads(letter)["reason"] == "refused <email>"


@given(st.emails(), st.from_regex(r"01[016789]-?\d{3,4}-?\d{4}", fullmatch=True))
def test_redact_masks_every_address_and_mobile_number(email: str, phone: str) -> None:
    text = redact(f"550 {email} unknown; {phone} unreachable; bill 123456 of 54,890원")
    assert email not in text and phone not in text
    assert text.endswith("bill 123456 of 54,890원")


def test_ids_amounts_and_bounds_are_not_taken_for_phone_numbers() -> None:
    text = "unknown bill 3691636263268; Input should be less than or equal to 9223372036854775807"
    assert redact(text) == text
    assert redact("call +82 10 1234 5678 or 02 123 4567") == "call <phone> or <phone>"


def test_a_replayed_letter_starts_over_at_the_first_channel_of_its_own_chain() -> None:
    e = NotificationEvent(
        event_id=uuid.uuid4(),
        bill_id=5,
        member_id=5,
        billing_month="2026-11",
        channel="sms",
        attempt=4,
        chain=("fax", "sms"),
    )
    letter = StoredDeadLetter(1, 5, "sms failed", None, None, e.model_dump(mode="json"), None, None)
    again = replayable(letter)
    assert (again.channel, again.attempt, again.chain) == ("fax", 1, ("fax", "sms"))
    assert again.event_id != e.event_id
