"""Text that leaves PostgreSQL names no person: events, dead letters, attempts and logs carry
ids only (DESIGN: events carry ids only). A provider's error may quote the address it refused;
this is the one place that takes such things out before the text is kept anywhere.

`redact()` is linear in its input whatever it holds: it looks at no more than its limit and the
longest thing it masks, and its patterns have bounded repetitions. What it returns is always
`printable()`: the one rule that an event's history, a dead letter and an attempt all keep to.

Pure: no I/O.
"""

from __future__ import annotations

import re

MAX_ERROR_CHARS = 500

# An e-mail address (RFC 5321: a local part of at most 64 characters, RFC 5322's specials
# allowed there; labels of at most 63) or a phone number as providers quote one: international
# (+82 10 1234 5678), national with its leading 0 (010-1234-5678, 01012345678, 02 123 4567), or
# digit groups joined by dashes. Plain digit runs without a leading 0 stay: they are ids and
# amounts (bill 3691636263268, 2^63 − 1). At most 15 digits (E.164).
_PERSONAL = re.compile(
    r"(?P<email>[^\s@<>()\[\],;:\"]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8})"
    r"|(?P<phone>\+\d(?:[\s().-]?\d){7,14}"
    r"|(?<![\d.])0\d(?:[\s().-]?\d){7,14}"
    r"|(?<![\d.])\d{2,4}-\d{3,4}-\d{4}(?!\d))"
)
LONGEST_MASKED = 64 + 1 + 8 * 64 + 63  # an address as long as the pattern allows
_MASKS = {"email": "<email>", "phone": "<phone>"}

# What no kept text holds: C0 controls (NUL, which PostgreSQL text refuses, tab and newline
# among them), DEL, C1 controls, line and paragraph separators, and lone surrogates (which
# neither UTF-8 nor JSON can carry).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with every character that kept text may not hold replaced by a space."""
    return _UNPRINTABLE.sub(" ", text)


def is_printable(text: str) -> bool:
    return _UNPRINTABLE.search(text) is None


def redact(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` with e-mail addresses and phone numbers masked, made printable and cut to
    `limit` characters: safe to keep in an event, a dead letter, an attempt or a log."""
    # Cut first: only the first `limit` characters can be kept, and an address that starts
    # among them ends within LONGEST_MASKED of the cut.
    cut = len(text) > limit
    window = text[: limit + LONGEST_MASKED] if cut else text
    end = limit if cut else len(window)
    parts: list[str] = []
    pos = 0
    for m in _PERSONAL.finditer(window):
        if m.start() >= end:
            break
        parts += (window[pos : m.start()], _MASKS[m.lastgroup or "email"])
        pos = m.end()
    if pos < end:
        parts.append(window[pos:end])
    out = printable("".join(parts))
    return out[: limit - 1] + "…" if cut or len(out) > limit else out
