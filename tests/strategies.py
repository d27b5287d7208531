"""Hypothesis strategies shared by the unit tests and the hostile-input drill."""

from __future__ import annotations

import json
import uuid

from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "schema_version",
    "event_id",
    "bill_id",
    "member_id",
    "billing_month",
    "purpose",
    "channel",
    "attempt",
    "not_before",
    "history",
]


def event_dict(bill_id: int = 7) -> dict[str, object]:
    return {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "bill_id": bill_id,
        "member_id": 42,
        "billing_month": "2026-11",
    }


def mutated(field: str, value: object, bill_id: int = 7) -> bytes:
    """A valid event with one field set to anything: closer to a real mistake than noise."""
    return json.dumps({**event_dict(bill_id), field: value}).encode()


def near_events(bill_id: int = 7) -> st.SearchStrategy[bytes]:
    """Bytes that are events with one field wrong, or noise."""
    values = json_values | st.integers(min_value=-(2**70), max_value=2**70)
    return st.binary(max_size=300) | st.builds(
        mutated, st.sampled_from(FIELDS), values, st.just(bill_id)
    )


# Hostile JSON, written as text (json.dumps cannot write a number of 5,000 digits): numbers of
# any size, nesting of any depth, strings of any length and alphabet, each in any field of an
# event or of its history. Sizes reach past the decoder's bounds (256 KiB for an event).
DIGITS = "0123456789"
_escapes = st.sampled_from(
    ["\\u0000", "\\ud800", "\\udfff", "\\n", "\\t", '\\"', "\\\\", "\\u2028"]
)


def _number(sign: str, digits: str, tail: str) -> str:
    return sign + digits + tail


big_numbers = st.builds(
    _number,
    st.sampled_from(["", "-"]),
    st.text(DIGITS, min_size=1, max_size=20) | st.builds(lambda n: "9" * n, st.integers(1, 60_000)),
    st.sampled_from(["", ".5", "e999", "e-999", "E+400", ".0e308"]),
)
long_strings = st.builds(
    lambda piece, n: json.dumps(piece * n, ensure_ascii=False),
    st.text(max_size=4) | _escapes.map(lambda e: json.loads(f'"{e}"')),
    st.integers(0, 300_000),
) | st.builds(lambda e, n: '"' + e * n + '"', _escapes, st.integers(0, 60_000))
deep = st.builds(
    lambda opener, n, closed: opener * n + ("1" + "]" * n if closed and opener == "[" else ""),
    st.sampled_from(["[", '{"a":', "[{}"]),
    st.integers(0, 200_000),
    st.booleans(),
)
hostile_values = big_numbers | long_strings | deep | json_values.map(json.dumps)


def _with(field: str, value: str, bill_id: int) -> bytes:
    base = json.dumps(event_dict(bill_id))[:-1]
    if field.startswith("history."):
        note = {"channel": "email", "attempt": 1, "error": "x", "at": "2026-12-01T00:00:00Z"}
        inner = json.dumps(note)[:-1] + f', "{field[8:]}": {value}}}'
        text = f'{base}, "history": [{inner}]}}'
    else:
        text = f'{base}, "{field}": {value}}}'
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate as another producer writes it


HISTORY_FIELDS = ["history.channel", "history.attempt", "history.error", "history.at"]


def hostile_events(bill_id: int = 7) -> st.SearchStrategy[bytes]:
    """An event with one field (of its own or of a history note) set to a hostile value, or the
    hostile value alone, or any bytes."""
    return (
        st.builds(
            _with,
            st.sampled_from([*FIELDS, "chain", *HISTORY_FIELDS]),
            hostile_values,
            st.just(bill_id),
        )
        | hostile_values.map(lambda v: v.encode("utf-8", "surrogatepass"))
        | st.binary(max_size=2_000)
    )


# What a provider may answer: any text, long, multi-line, with addresses, numbers and
# characters no database or JSON accepts.
provider_errors = st.text(max_size=200) | st.builds(
    lambda piece, n: piece * n,
    st.text(min_size=1, max_size=30)
    | st.sampled_from(["a" * 50, "x@", "010-", "+8", "\t\n", "\ud800", "a@b.c ", "0" * 15]),
    st.integers(0, 50_000),
)
