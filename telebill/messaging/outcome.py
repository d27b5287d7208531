"""The one interface between the message platform and the notification workflows: the terminal
outcome of a bill notification, sent to the workflow as a signal.

The consumers never call it inline: they write the outcome to PostgreSQL (the `notification` row,
an outbox) and an `OutcomeReporter` beside them tells the workflow, so a slow or absent Temporal
neither slows delivery nor loses an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeGuard

OUTCOME_SIGNAL = "delivery_outcome"
DELIVERED_PREFIX = "DELIVERED_"  # DELIVERED_EMAIL, DELIVERED_SMS, DELIVERED_ALIMTALK, …
DEAD_LETTER = "DEAD_LETTER"


def delivered_status(channel: str) -> str:
    return f"{DELIVERED_PREFIX}{channel.upper()}"


def is_terminal(status: str | None) -> TypeGuard[str]:
    """Delivered on some channel, or a dead letter: how a bill's notification ends. (For
    DELIVERED_EMAIL, DELIVERED_SMS and DEAD_LETTER, the statuses before other channels, it
    answers as the tuple they were checked against did, so histories replay the same.)"""
    return status is not None and (status.startswith(DELIVERED_PREFIX) or status == DEAD_LETTER)


@dataclass(frozen=True)
class DeliveryOutcome:
    bill_id: int
    purpose: str
    status: str  # terminal: is_terminal(status)
    channel: str | None  # the channel that delivered it; None for a dead letter
    at: str  # ISO 8601, when the outcome was recorded


class OutcomeSink(Protocol):
    async def report(self, workflow_id: str, outcome: DeliveryOutcome) -> bool:
        """Tell the workflow; True when it is told or no longer exists (nothing left to tell),
        False to try again later. Raises when the sink itself is unreachable."""
        ...
