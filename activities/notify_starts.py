"""Starting a bill's notification workflow, and telling waiting ones something.

A monthly bill's workflow is started with its planned instant as a start delay: until then
it is one row on the server and costs no workflow task, timer or activity (`start_range`
plans a whole page of bills in one query). A delayed workflow ignores plain signals, so a
waiting one is told with Signal-With-Start, which wakes it at once to re-plan.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.notify_types import (
    BILLING_MONTH,
    LEAN,
    MEMBER_ID,
    NOTIFY_STATUS,
    SEND_AT,
    NotifyInput,
)
from telebill.config import Settings
from telebill.db.connect import DbConn
from telebill.db.notify_store import MONTHLY, BillPreferences, Waiting, load_preferences_of
from telebill.domain.send_window import NoAllowedInstant, Plan, Window, plan_send
from telebill.domain.statuses import NotifyStatus

WORKFLOW = "BillNotificationWorkflow"
# A start closer than this to its instant is not delayed (the delay would save nothing).
MIN_DELAY = timedelta(seconds=1)


def notify_workflow_id(month: str, member_id: int, prefix: str = "") -> str:
    return f"{prefix}notify-{month}-{member_id}"


def notify_input(
    settings: Settings,
    bill_id: int,
    member_id: int,
    month: str,
    *,
    purpose: str = MONTHLY,
    channel: str = "email",
    reserved_at: str | None = None,
) -> NotifyInput:
    """A notification workflow's input, with this installation's clock and STUCK period."""
    return NotifyInput(
        bill_id,
        member_id,
        month,
        purpose=purpose,
        channel=channel,
        reserved_at=reserved_at,
        clock_offset_s=settings.clock_offset_s,
        stuck_after_s=settings.notify_stuck_after_s,
        version=LEAN,
    )


def initial_search_attributes(
    month: str, member_id: int, send_at: datetime | None = None
) -> TypedSearchAttributes:
    pairs: list[SearchAttributePair] = [  # type: ignore[type-arg]
        SearchAttributePair(BILLING_MONTH, month),
        SearchAttributePair(MEMBER_ID, member_id),
        SearchAttributePair(NOTIFY_STATUS, NotifyStatus.SCHEDULED),
    ]
    if send_at is not None:
        pairs.append(SearchAttributePair(SEND_AT, send_at))
    return TypedSearchAttributes(pairs)


def plan_bill(
    r: BillPreferences,
    windows: Sequence[Window],
    now: datetime,
    purpose: str = MONTHLY,
    reserved: datetime | None = None,
) -> Plan:
    """The send instant of this bill's notification (raises NoAllowedInstant)."""
    allowed = [*windows, r.quiet_hours] if r.quiet_hours else list(windows)
    if purpose != MONTHLY and reserved is None:
        reserved = now  # a resend goes now, windows permitting
    return plan_send(r.billing_month, r.preferred_day, r.timezone, now, allowed, reserved)


async def plan_monthly_bills(
    conn: DbConn,
    bill_ids: Sequence[int],
    windows: Sequence[Window],
    now: datetime,
    reserved: datetime | None = None,
) -> list[tuple[BillPreferences, Plan | None]]:
    """Each monthly bill with its plan, their preferences read in one query (None: no allowed
    instant; its workflow says why)."""
    plans: list[tuple[BillPreferences, Plan | None]] = []
    for r in await load_preferences_of(conn, bill_ids, MONTHLY):
        try:
            plans.append((r, plan_bill(r, windows, now, MONTHLY, reserved)))
        except NoAllowedInstant:
            plans.append((r, None))
    return plans


async def start_notification(
    client: Client,
    settings: Settings,
    task_queue: str,
    params: NotifyInput,
    *,
    now: datetime,
    send_at: datetime | None = None,
    signal: tuple[str, list[object]] | None = None,
) -> bool:
    """Start the workflow (delayed until `send_at` when that is ahead), or, with `signal`,
    signal it, waking it if its start is delayed. False: it runs already (without a signal:
    left as it is, its own plan stands) or ran and finished."""
    delay = send_at - now if send_at is not None else None
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            WORKFLOW,
            params,
            id=notify_workflow_id(params.month, params.member_id, settings.workflow_id_prefix),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
            if signal
            else WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            start_delay=delay if delay is not None and delay >= MIN_DELAY else None,
            start_signal=signal[0] if signal else None,
            start_signal_args=signal[1] if signal else [],
            search_attributes=initial_search_attributes(params.month, params.member_id, send_at),
        )
        return True
    return False


async def tell_waiting(
    client: Client, settings: Settings, waiting: Sequence[Waiting], signal: str, arg: object
) -> int:
    """Signal-With-Start each waiting workflow (never a second run of a finished one), which
    starts one that was only planned; how many were told."""
    gate = asyncio.Semaphore(settings.notify_parallel_starts)

    async def one(w: Waiting) -> bool:
        params = notify_input(settings, w.bill_id, w.member_id, w.month, purpose=w.purpose)
        async with gate:
            with contextlib.suppress(WorkflowAlreadyStartedError):  # finished meanwhile
                await client.start_workflow(
                    WORKFLOW,
                    params,
                    id=w.workflow_id
                    or notify_workflow_id(w.month, w.member_id, settings.workflow_id_prefix),
                    task_queue=settings.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    start_signal=signal,
                    start_signal_args=[arg],
                    search_attributes=initial_search_attributes(w.month, w.member_id),
                )
                return True
        return False

    return sum(await asyncio.gather(*(one(w) for w in waiting)))
