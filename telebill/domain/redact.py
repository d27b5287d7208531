"""Text that leaves PostgreSQL names no person: events, dead letters, attempts and logs carry
ids only (DESIGN: events carry ids only). A provider's error may quote the address it refused;
this is the one place that takes such things out before the text is kept anywhere.

Pure: no I/O.
"""

from __future__ import annotations

import re

MAX_ERROR_CHARS = 500

# Any local part an address may have (RFC 5322 allows !#$%&'*+/=?^`{|}~ there), any domain.
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]+@[\w-]+(?:\.[\w-]+)+")
# A phone number as providers quote one: international (+82 10 1234 5678), national with its
# leading 0 (010-1234-5678, 01012345678, 02 123 4567), or digit groups joined by dashes. Plain
# digit runs without a leading 0 stay: they are ids and amounts (bill 3691636263268, 2^63 − 1).
_PHONE = re.compile(
    r"\+\d(?:[\s().-]?\d){7,}"
    r"|(?<![\d.])0\d(?:[\s().-]?\d){7,}"
    r"|(?<![\d.])\d{2,4}-\d{3,4}-\d{4}(?!\d)"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def without_control(text: str) -> str:
    """Control characters (NUL among them, which PostgreSQL text refuses) become spaces."""
    return _CONTROL.sub(" ", text)


def redact(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` with e-mail addresses and phone numbers masked, control characters replaced and
    its length capped: safe to keep in an event, a dead letter, an attempt or a log."""
    text = _EMAIL.sub("<email>", text)
    text = _PHONE.sub("<phone>", text)
    text = without_control(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
