"""The delivery records' statements live in `telebill/db/` (issue 33: one home per table):
`delivery_store.py` (attempts, published rows, the outcome outbox), `dead_letter_store.py`
(dead letters), `deferred_store.py` (deferred events). These three names stay importable from
here for telebill/service/dead_letters.py alone (being edited by another engineer), until it
imports them from telebill.db.dead_letter_store."""

from __future__ import annotations

from telebill.db.dead_letter_store import MAX_PAGE, StoredDeadLetter, list_dead_letters

__all__ = ["MAX_PAGE", "StoredDeadLetter", "list_dead_letters"]
