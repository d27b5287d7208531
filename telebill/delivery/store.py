"""The delivery records' statements moved to the notifications store,
`telebill/db/notify_store.py` (issue 33: one home per table); these names stay importable from
here for the modules that still use this path."""

from __future__ import annotations

from telebill.db.notify_store import (
    ADDRESS_COLUMNS,
    IS_DELIVERED,
    MAX_PAGE,
    Attempt,
    Published,
    Recipient,
    StoredDeadLetter,
    delivered_keys,
    ended_keys,
    list_dead_letters,
    load_recipients,
    mark_published,
    mark_replayed,
    record_attempts,
    record_dead_letters,
)

__all__ = [
    "ADDRESS_COLUMNS",
    "IS_DELIVERED",
    "MAX_PAGE",
    "Attempt",
    "Published",
    "Recipient",
    "StoredDeadLetter",
    "delivered_keys",
    "ended_keys",
    "list_dead_letters",
    "load_recipients",
    "mark_published",
    "mark_replayed",
    "record_attempts",
    "record_dead_letters",
]
