"""Text that leaves PostgreSQL names no person: events, dead letters, attempts and logs carry
ids only (DESIGN: events carry ids only). A provider's error may quote the address it refused;
this is the one place that takes such things out before the text is kept anywhere.

`redact()` is linear in its input whatever it holds: it looks at no more than its limit and
the longest thing it masks (its patterns may backtrack over no more than that). What it returns
is always `printable()`: the one rule that an event's history, a dead letter and an attempt all
keep to.

Pure: no I/O.
"""

from __future__ import annotations

import re

MAX_ERROR_CHARS = 500

# An e-mail address: any local part (RFC 5322's specials, or quoted), any domain (a name, with
# or without dots, or an address literal). A phone number as providers quote one: international
# (+82 10 1234 5678, +82 (0)10 …), national with its leading 0 (010-1234-5678, (02) 123-4567,
# Tel.010…), 82 without its plus, or digit groups joined by dashes; between the digits up to
# three of the separators people write (spaces, dots, brackets, slashes, underscores, any dash,
# the replacement character of bytes that were not UTF-8). Plain digit runs without a leading 0
# stay: they are ids and amounts (bill 3691636263268, 2^63 − 1).
_SEP = r"[\s().\-/_\u2010-\u2015\u2212\uff0d\ufffd]{0,3}"
_PERSONAL = re.compile(
    r"(?P<email>(?:\"[^\"]{0,64}\"|[^\s@<>()\[\],;:\"]+)@(?:\[[^\]\s]{1,64}\]|[\w-]+(?:\.[\w-]+)*))"
    rf"|(?P<phone>\+{_SEP}\d(?:{_SEP}\d){{7,14}}"
    rf"|(?<!\d)\(?0\d(?:{_SEP}\d){{7,14}}"
    rf"|(?<!\d)82{_SEP}(?:\(0\){_SEP})?1\d(?:{_SEP}\d){{6,9}}"
    r"|(?<!\d)\d{2,4}-\d{3,4}-\d{4}(?!\d))"
)
LONGEST_MASKED = 320  # an address as long as any real one: RFC 5321's 64 + 1 + 255
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
    # printable first: a control character between the digits must not hide a number
    window = printable(text[: limit + LONGEST_MASKED] if cut else text)
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
    out = "".join(parts)  # printable: the window was made so, and so are the masks
    return out[: limit - 1] + "…" if cut or len(out) > limit else out
