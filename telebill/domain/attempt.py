"""What became of one delivery attempt."""

from __future__ import annotations

from enum import StrEnum


class AttemptOutcome(StrEnum):
    SENT = "SENT"  # the provider accepted it: the member gets it
    DUPLICATE = "DUPLICATE"  # accepted before under its idempotency key: delivered, not sent again
    FAILED = "FAILED"
    DEFERRED = "DEFERRED"  # inside a send window: kept for the next allowed instant

    @property
    def delivered(self) -> bool:
        return self in (AttemptOutcome.SENT, AttemptOutcome.DUPLICATE)
