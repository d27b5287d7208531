"""Where a send day's time goes inside Temporal, read from the workflows' own histories: how long
each workflow task waited on its task queue before a worker took it, and how long the worker then
held it. A send day that is slower than its baseline while both use less CPU is waiting
somewhere; these two figures say whether it is the queue (too few polls in flight) or the task
(the local activity inside it)."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError

SAMPLE = 150  # histories read (evenly spread over the ids given)
READERS = 8  # histories read at once: a server still busy with a 1M send day times out on more


@dataclass(frozen=True)
class TaskWaits:
    tasks: int
    unread: int  # histories the server did not return (timed out): the figures leave them out
    unread_why: str
    queued_p50_s: float
    queued_p90_s: float
    held_p50_s: float
    held_p90_s: float

    def line(self) -> str:
        return (
            f"workflow tasks after the wake ({self.tasks} in {SAMPLE} histories): waited on the "
            f"queue p50 {self.queued_p50_s:.2f} s, p90 {self.queued_p90_s:.2f} s; held by the "
            f"worker p50 {self.held_p50_s:.2f} s, p90 {self.held_p90_s:.2f} s"
            + (f" ({self.unread} histories not read: {self.unread_why})" if self.unread else "")
        )


def _quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        v = values[0] if values else 0.0
        return v, v
    cuts = statistics.quantiles(values, n=10)
    return statistics.median(values), cuts[8]


async def task_waits(client: Client, workflow_ids: Sequence[str], wake: datetime) -> TaskWaits:
    """The waits of the workflow tasks scheduled at or after `wake` (a timer firing, a delayed
    start ending, an activity completing) in a sample of the given workflows' histories; a
    second's margin for the wake's own imprecision (tasks before it come at the start)."""
    wake -= timedelta(seconds=1)
    step = max(len(workflow_ids) // SAMPLE, 1)
    picked = list(workflow_ids)[::step][:SAMPLE]
    gate = asyncio.Semaphore(READERS)
    failures: list[str] = []

    async def read(workflow_id: str) -> WorkflowHistory | None:
        async with gate:
            try:
                return await client.get_workflow_handle(workflow_id).fetch_history()
            except RPCError as e:
                failures.append(str(e))
                return None

    read_all = await asyncio.gather(*(read(i) for i in picked))
    histories = [h for h in read_all if h is not None]
    queued: list[float] = []
    held: list[float] = []
    for history in histories:
        scheduled: datetime | None = None
        started: datetime | None = None
        for event in history.events:
            at = event.event_time.ToDatetime(tzinfo=UTC)
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled = at if at >= wake else None
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and scheduled:
                started = at
                queued.append((at - scheduled).total_seconds())
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and started:
                held.append((at - started).total_seconds())
                scheduled = started = None
    q50, q90 = _quantiles(queued)
    h50, h90 = _quantiles(held)
    return TaskWaits(
        len(queued), len(failures), failures[0] if failures else "", q50, q90, h50, h90
    )
