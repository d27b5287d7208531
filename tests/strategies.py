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
