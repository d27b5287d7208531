"""The one interface between the message platform and the notification workflows: the terminal
outcome of a bill notification, sent to the workflow as a signal.

The consumers never call it inline: they write the outcome to PostgreSQL (the `notification` row,
an outbox) and an `OutcomeReporter` beside them tells the workflow, so a slow or absent Temporal
neither slows delivery nor loses an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeGuard

from telebill.domain import statuses

OUTCOME_SIGNAL = "delivery_outcome"


def is_terminal(status: str | None) -> TypeGuard[str]:
    """Delivered on some channel, or a dead letter: how a bill's notification ends. (For
    DELIVERED_EMAIL, DELIVERED_SMS and DEAD_LETTER, the statuses before other channels, it
    answers as the tuple they were checked against did, so histories replay the same.)"""
    return statuses.is_terminal(status)


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
