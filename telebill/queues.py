"""The Temporal task queues: one per kind of work, so that none waits behind another's backlog
(a settlement behind a million notification tasks, say)."""

from __future__ import annotations

from enum import StrEnum

from telebill.config import Settings


class WorkQueue(StrEnum):
    SETTLEMENT = "settlement"  # the month's settlement and its shards
    DISPATCH = "dispatch"  # starting the notification workflows, reservations, the daily run
    NOTIFICATION = "notification"  # one workflow per bill (TELEBILL_TASK_QUEUE itself)

    def name_in(self, settings: Settings) -> str:
        return {
            WorkQueue.SETTLEMENT: settings.settlement_task_queue,
            WorkQueue.DISPATCH: settings.dispatch_task_queue,
            WorkQueue.NOTIFICATION: settings.task_queue,
        }[self]


def parse_queues(text: str) -> list[WorkQueue]:
    """'settlement,dispatch' → those queues; ValueError names the ones that do not exist."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in {q.value for q in WorkQueue}]
    if unknown or not names:
        raise ValueError(
            f"unknown queue {', '.join(unknown) or '(none given)'}; choose from "
            + ", ".join(q.value for q in WorkQueue)
        )
    return [WorkQueue(n) for n in dict.fromkeys(names)]
