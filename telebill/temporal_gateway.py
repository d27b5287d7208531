"""The one place the service layer and the activities call Temporal's client: starting,
signalling (Signal-With-Start), querying, describing and awaiting workflows, by the names and
payloads of telebill/contracts/, never by importing `workflows/`.

A monthly bill's workflow is started with its planned instant as a start delay: until then it is
one row on the server and costs no workflow task, timer or activity (`start_range` plans a whole
page of bills in one query). A delayed workflow ignores plain signals, so a waiting one is told
with Signal-With-Start, which wakes it at once to re-plan.

The Schedules are created, updated and described here too (their declaration is the service
layer's: telebill/service/schedules.py), and the notification workflows counted and listed
(the visibility queries themselves are telebill/notify_search.py's, which the month report and
the worker's STUCK gauge also use).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleDescription,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from telebill.config import Settings
from telebill.contracts import dispatch, notification, settlement
from telebill.contracts.dispatch import DispatchInput, DispatchResult
from telebill.contracts.notification import NotifyInput, notify_input, notify_workflow_id
from telebill.contracts.search_attributes import BILLING_MONTH, MEMBER_ID, NOTIFY_STATUS, SEND_AT
from telebill.contracts.settlement import (
    SettlementInput,
    SettlementProgress,
    SettlementSummary,
    settlement_id,
)
from telebill.db.notify_store import Waiting
from telebill.domain.statuses import NotifyStatus
from telebill.notify_search import StuckWorkflow, status_counts, stuck_page

# A start closer than this to its instant is not delayed (the delay would save nothing).
MIN_DELAY = timedelta(seconds=1)


def initial_search_attributes(
    month: str, member_id: int, send_at: datetime | None = None
) -> TypedSearchAttributes:
    """What a notification workflow is started with (SCHEDULED, and its instant if known)."""
    pairs: list[SearchAttributePair] = [  # type: ignore[type-arg]
        SearchAttributePair(BILLING_MONTH, month),
        SearchAttributePair(MEMBER_ID, member_id),
        SearchAttributePair(NOTIFY_STATUS, NotifyStatus.SCHEDULED),
    ]
    if send_at is not None:
        pairs.append(SearchAttributePair(SEND_AT, send_at))
    return TypedSearchAttributes(pairs)


@dataclass(frozen=True, kw_only=True)
class Started:
    workflow_id: str
    run_id: str | None


class TemporalGateway:
    """Temporal, as Telebill uses it; one per process (or per CLI call), around one client."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    # -- notifications -------------------------------------------------------------------

    async def start_notification(
        self,
        params: NotifyInput,
        *,
        task_queue: str,
        now: datetime,
        send_at: datetime | None = None,
        signal: tuple[str, list[object]] | None = None,
    ) -> bool:
        """Start the workflow (delayed until `send_at` when that is ahead), or, with `signal`,
        signal it, waking it if its start is delayed. False: it runs already (without a signal:
        left as it is, its own plan stands) or ran and finished."""
        delay = send_at - now if send_at is not None else None
        wid = notify_workflow_id(params.month, params.member_id, self.settings.workflow_id_prefix)
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(
                notification.WORKFLOW,
                params,
                id=wid,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
                if signal
                else WorkflowIDConflictPolicy.FAIL,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                start_delay=delay if delay is not None and delay >= MIN_DELAY else None,
                start_signal=signal[0] if signal else None,
                start_signal_args=signal[1] if signal else [],
                search_attributes=initial_search_attributes(
                    params.month, params.member_id, send_at
                ),
            )
            return True
        return False

    async def tell_waiting(self, waiting: Sequence[Waiting], signal: str, arg: object) -> int:
        """Signal-With-Start each waiting workflow (never a second run of a finished one),
        which starts one that was only planned; how many were told."""
        s = self.settings
        gate = asyncio.Semaphore(s.notify_parallel_starts)

        async def one(w: Waiting) -> bool:
            params = notify_input(s, w.bill_id, w.member_id, w.month, purpose=w.purpose)
            async with gate:
                with contextlib.suppress(WorkflowAlreadyStartedError):  # finished meanwhile
                    await self.client.start_workflow(
                        notification.WORKFLOW,
                        params,
                        id=w.workflow_id
                        or notify_workflow_id(w.month, w.member_id, s.workflow_id_prefix),
                        task_queue=s.task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        start_signal=signal,
                        start_signal_args=[arg],
                        search_attributes=initial_search_attributes(w.month, w.member_id),
                    )
                    return True
            return False

        return sum(await asyncio.gather(*(one(w) for w in waiting)))

    async def start_resend(
        self, params: NotifyInput, workflow_id: str, memo: dict[str, str]
    ) -> tuple[str, str | None]:
        """Start a resend's workflow, or join the run of it that is open (or completed):
        its id and the value of the memo's first key in the run that stands."""
        try:
            handle = await self.client.start_workflow(
                notification.WORKFLOW,
                params,
                id=workflow_id,
                task_queue=self.settings.task_queue,
                search_attributes=initial_search_attributes(params.month, params.member_id),
                memo=memo,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            )
        except WorkflowAlreadyStartedError:  # completed already: that one is the answer
            handle = self.client.get_workflow_handle(workflow_id)
        key, default = next(iter(memo.items()))
        value = await (await handle.describe()).memo_value(key, default)
        return handle.id, None if value is None else str(value)

    # -- dispatches ----------------------------------------------------------------------

    async def start_dispatch(self, inp: DispatchInput, workflow_id: str) -> str:
        """Start a dispatch on the dispatch queue (the same id again joins the running one)."""
        handle = await self.client.start_workflow(
            dispatch.WORKFLOW,
            inp,
            id=workflow_id,
            task_queue=self.settings.dispatch_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return handle.id

    async def dispatch_result(self, workflow_id: str) -> DispatchResult:
        handle = self.client.get_workflow_handle(workflow_id, result_type=DispatchResult)
        result: DispatchResult = await handle.result()
        return result

    # -- settlements ---------------------------------------------------------------------

    async def start_settlement(self, inp: SettlementInput) -> Started:
        """Start `settlement-YYYY-MM`, or join it while it runs."""
        s = self.settings
        handle = await self.client.start_workflow(
            settlement.MONTHLY_WORKFLOW,
            inp,
            id=f"{s.workflow_id_prefix}{settlement_id(inp.month)}",
            task_queue=s.settlement_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        return Started(workflow_id=handle.id, run_id=handle.result_run_id)

    async def settlement_polled(self) -> bool:
        """Whether a worker polls the settlement's task queue now."""
        s = self.settings
        described = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=s.temporal_namespace,
                task_queue=TaskQueue(name=s.settlement_task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return bool(described.pollers)

    async def settlement_progress(self, workflow_id: str) -> SettlementProgress:
        handle = self.client.get_workflow_handle(workflow_id)
        progress: SettlementProgress = await handle.query(
            settlement.PROGRESS, result_type=SettlementProgress
        )
        return progress

    async def settlement_result(self, workflow_id: str) -> SettlementSummary:
        handle = self.client.get_workflow_handle(workflow_id, result_type=SettlementSummary)
        summary: SettlementSummary = await handle.result()
        return summary

    # -- Schedules -----------------------------------------------------------------------

    async def upsert_schedule(self, schedule_id: str, schedule: Schedule) -> str:
        """Create the Schedule, or make an existing one's spec, action and policies these while
        keeping its state: an operator's pause and note survive an upgrade's `install`."""
        try:
            await self.client.create_schedule(schedule_id, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            kept: list[str] = []

            def declared(current: ScheduleUpdateInput) -> ScheduleUpdate:
                state = current.description.schedule.state
                kept[:] = ["paused"] if state.paused else []
                return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

            await self.client.get_schedule_handle(schedule_id).update(declared)
            return "updated (kept paused)" if kept else "updated"

    async def describe_schedule(self, schedule_id: str) -> ScheduleDescription | None:
        """The Schedule as Temporal describes it; None: not installed."""
        try:
            return await self.client.get_schedule_handle(schedule_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def workflow_outcome(self, workflow_id: str, run_id: str | None) -> str:
        """How a run ended (RUNNING, COMPLETED, FAILED, …); UNKNOWN once retention removed it."""
        handle = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return "UNKNOWN"
            raise
        return described.status.name if described.status is not None else "UNKNOWN"

    # -- visibility ----------------------------------------------------------------------

    async def notify_status_counts(self, month: str) -> dict[str, int]:
        """The month's notification workflows by NotifyStatus."""
        return await status_counts(self.client, self.settings, month)

    async def stuck_page(
        self, month: str, size: int, token: bytes | None
    ) -> tuple[list[StuckWorkflow], bytes | None]:
        """One page of the month's STUCK workflows, and the token of the next (None: last)."""
        return await stuck_page(self.client, self.settings, month, size, token)
