"""The Kafka event: round trip, small, and malformed input refused with a reason."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from telebill.messaging.events import MalformedEvent, NotificationEvent

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
    for n in range(20):
        e = e.failed(f"error {n}", NOW)
    assert len(e.history) == 12 and e.history[-1].error == "error 19"
