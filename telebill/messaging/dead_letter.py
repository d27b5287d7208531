"""The dead-letter message on Kafka, both sides: the channel consumers build it, the DLQ consumer
reads it back into a record.

A letter is always small enough to publish (the reason capped, raw bytes cut to a bound and kept
with their length and hash, the event itself bounded by its model) and names no person (reason
and raw text redacted). Reading is total: whatever arrives on the DLQ topic, from Telebill or
from another producer, NUL bytes and non-UTF-8 included, becomes a record PostgreSQL can hold.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from telebill.domain.redact import printable, redact
from telebill.messaging.bounded_json import JsonBounds, Unreadable, loads
from telebill.messaging.events import PG_BIGINT_MAX, NotificationEvent

MAX_RAW_BYTES = 2_048
MAX_REASON_CHARS = 1_000
MAX_KEY_CHARS = 300
# Our letters are at most ~60 KB (an event with a full history of 500-character errors); one
# of another producer's beyond 320 KiB is kept as its cut raw bytes with the reason. Nesting
# is bounded so that json_safe's walk is too; NaN and infinities become null there.
DLQ_BOUNDS = JsonBounds(max_bytes=320 * 1024, max_depth=64, non_finite=True)


def cut(raw: bytes) -> dict[str, Any]:
    """Raw bytes as they can travel and be stored: their start as (redacted) text, their
    length and their SHA-256, which still identifies the original."""
    return {
        "text": redact(raw[:MAX_RAW_BYTES].decode("utf-8", "replace"), MAX_RAW_BYTES),
        "length": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "truncated": len(raw) > MAX_RAW_BYTES,
    }


def dead_letter_message(
    reason: str,
    event: NotificationEvent | None,
    raw: bytes | None = None,
    source: str | None = None,
) -> bytes:
    """A dead letter: why, the event (or the raw bytes that were not one), and `source`, the
    topic/partition/offset of the message it stands for (the DLQ records one row per source,
    however often a consumer that crashed publishes it again)."""
    errors = [n.error for n in event.history] if event else []
    return json.dumps(
        {
            "reason": redact(reason, MAX_REASON_CHARS),
            "source": source,
            "event": json.loads(event.model_dump_json()) if event else None,
            "raw": cut(raw) if raw is not None and event is None else None,
            "first_error": errors[0] if errors else None,
            "last_error": errors[-1] if errors else None,
        },
        ensure_ascii=False,
    ).encode()


@dataclass(frozen=True)
class DeadLetterRecord:
    key: str  # one row per key
    event: dict[str, Any]
    reason: str
    bill_id: int | None
    purpose: str | None
    first_error: str | None
    last_error: str | None


def _text(value: object, limit: int) -> str:
    """Text PostgreSQL accepts and a page shows on one line: cut first, then printable (the
    rule every kept text follows: no NUL, no control characters, no lone surrogates)."""
    text = value if isinstance(value, str) else str(value)
    return printable(text) if len(text) <= limit else printable(text[: limit - 1]) + "…"


# The fields of an event that are ids, instants and names of things, never a person: kept as
# they are (redaction could take a UUID's digits for a phone number and spoil a replay).
STRUCTURAL = frozenset(
    ["event_id", "billing_month", "purpose", "channel", "chain", "not_before", "at", "sha256"]
)


def json_safe(value: Any, limit: int = 10_000, key: str | None = None) -> Any:
    """A JSON value JSONB accepts and that names no person: strings redacted (but for the
    structural fields of an event) and printable, NaN and infinities as null."""
    if isinstance(value, str):
        return _text(value, limit) if key in STRUCTURAL else redact(value, limit)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_text(k, 200): json_safe(v, limit, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v, limit, key) for v in value]
    return value


def _optional_text(value: object, limit: int = 2_000) -> str | None:
    return redact(value, limit) if isinstance(value, str) and value else None


def _bill_id(value: object) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= PG_BIGINT_MAX
    return value if ok else None  # type: ignore[return-value]


def parse_dead_letter(raw: bytes | None, position: str) -> DeadLetterRecord:
    """Whatever arrived on the DLQ topic at `position` (topic/partition/offset), as a record.
    Telebill's letters keep their reason, event and errors; anything else is kept as raw bytes
    with the reason why it could not be read. Never raises: a letter this code did not foresee
    is kept raw too, rather than stopping the dead-letter consumer."""
    try:
        return _parsed(raw, position)
    except Exception as exc:
        return _unreadable(raw, position, f"unreadable dead letter ({type(exc).__name__})")


def _unreadable(raw: bytes | None, position: str, reason: str) -> DeadLetterRecord:
    return DeadLetterRecord(
        f"dlq:{position}", {"raw": cut(raw or b"")}, reason, None, None, None, None
    )


def _parsed(raw: bytes | None, position: str) -> DeadLetterRecord:
    foreign_key = f"dlq:{position}"
    try:
        data = loads(raw, DLQ_BOUNDS)
    except Unreadable as exc:
        return _unreadable(raw, position, f"unreadable dead letter ({redact(str(exc), 200)})")
    if not isinstance(data, dict):
        return DeadLetterRecord(
            foreign_key,
            {"raw": json_safe(data) if len(raw or b"") <= MAX_RAW_BYTES else cut(raw or b"")},
            "unreadable dead letter (not a JSON object)",
            None,
            None,
            None,
            None,
        )
    event = data.get("event")
    event = json_safe(event) if isinstance(event, dict) else None
    source = data.get("source")
    key = f"src:{_text(source, MAX_KEY_CHARS)}" if isinstance(source, str) and source else None
    reason = data.get("reason")
    purpose = event.get("purpose") if event else None
    if event is None:  # a malformed event's letter keeps its raw part; a foreign one, itself
        small = len(raw or b"") <= 4 * MAX_RAW_BYTES
        kept = data.get("raw") if "raw" in data else data
        event = {"raw": json_safe(kept) if small else cut(raw or b"")}
    return DeadLetterRecord(
        key or foreign_key,
        event,
        redact(reason, MAX_REASON_CHARS)
        if isinstance(reason, str) and reason
        else "dead letter without a reason (another producer?)",
        _bill_id(event.get("bill_id")) if event else None,
        _text(purpose, 100) if isinstance(purpose, str) and purpose else None,
        _optional_text(data.get("first_error")),
        _optional_text(data.get("last_error")),
    )
