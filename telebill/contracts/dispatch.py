"""The dispatch family's contract: `DispatchWorkflow` (starts the notification workflows a
month's bills are missing, a "send now", a reservation) and `ScheduledDispatchWorkflow` (the
daily Schedule's run). The start activity's payloads (StartInput, MonthScope, ReservationRef,
MemberListRef) are the notification family's: telebill/contracts/notification.py.

Task queue: TELEBILL_TASK_QUEUE-dispatch (Settings.dispatch_task_queue, WorkQueue.DISPATCH).
Rules and versions: telebill/contracts/__init__.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from telebill.contracts.notification import MemberListRef

WORKFLOW = "DispatchWorkflow"
SCHEDULED_WORKFLOW = "ScheduledDispatchWorkflow"  # its input: the time zone (a str)
# The Schedule's action starts `scheduled-dispatch-<instant>` (Temporal appends the instant).
SCHEDULED_ID = "scheduled-dispatch"


def dispatch_id(month: str, tag: str, stamp: str) -> str:
    """An admin's dispatch: dispatch-YYYY-MM-<tag>-<stamp> (tag: now, catch-up, reserve-<id>)."""
    return f"dispatch-{month}-{tag}-{stamp}"


@dataclass(frozen=True, kw_only=True)
class DispatchInput:
    month: str | None = None  # None: the month before today in `time_zone` (the daily run)
    members: list[int] | None = None
    reserved_at: str | None = None
    time_zone: str = "Asia/Seoul"
    range_size: int = 50_000
    parallel: int = 2
    # The members, stored (a reservation's row or a "send now" list): each range's activity
    # reads its own a page at a time. Dispatches started before 2026-12 have `members` instead
    # (the field's default keeps their inputs, and so their activities' inputs, as they were).
    member_list: MemberListRef | None = None


@dataclass(frozen=True, kw_only=True)
class DispatchResult:
    month: str
    started: int  # workflows started or signalled
