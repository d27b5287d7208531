"""The notification family's contract: `BillNotificationWorkflow` (one per bill), what starts,
signals and queries it, the payloads of its activities, and the start activity's payloads that
the dispatch (telebill/contracts/dispatch.py) sends.

Payloads carry ids, months and instants only, never member data. Rules and versions: the
package's docstring (telebill/contracts/__init__.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from telebill.config import Settings
from telebill.domain.statuses import NotifyStatus, Purpose
from telebill.messaging.outcome import OUTCOME_SIGNAL

WORKFLOW = "BillNotificationWorkflow"
# Its task queue: TELEBILL_TASK_QUEUE (Settings.task_queue, WorkQueue.NOTIFICATION).

# Signals and the query, as the workflow registers them (tests/unit/test_contracts.py).
PREFERENCES_CHANGED = "preferences_changed"  # no argument: plan again
RESERVE = "reserve"  # str | None: a reserved instant (ISO; None: back to the preferred day)
REPLAN_NOW = "replan_now"  # float | None: plan again now, with this clock offset
DELIVERY_OUTCOME = OUTCOME_SIGNAL  # DeliveryOutcome (telebill/messaging/outcome.py)
CURRENT = "current"  # query: NotifyState (status, send_at, why, reserved_at)

# Its search attributes (BillingMonth, NotifyStatus, SendAt, MemberId) are
# telebill/contracts/search_attributes.py's: typed keys of the Temporal SDK, kept apart so that
# importing this contract (as every `telebill` command's service layer does) does not import
# the SDK (0.16 s of a 0.6 s start-up, python -X importtime).


def notify_workflow_id(month: str, member_id: int, prefix: str = "") -> str:
    """notify-YYYY-MM-<member_id> (behind the installation's TELEBILL_WORKFLOW_ID_PREFIX)."""
    return f"{prefix}notify-{month}-{member_id}"


def resend_workflow_id(month: str, member_id: int, n: int, prefix: str = "") -> str:
    """The n-th resend of a bill: notify-YYYY-MM-<member_id>-resend-<n>."""
    return f"{notify_workflow_id(month, member_id, prefix)}-resend-{n}"


@dataclass(frozen=True, kw_only=True)
class NotifyInput:
    bill_id: int
    member_id: int
    month: str  # YYYY-MM
    purpose: str = Purpose.MONTHLY_BILL
    channel: str = "email"  # where the chain starts (a resend may start at sms)
    reserved_at: str | None = None  # ISO; replaces the preferred day
    clock_offset_s: float = 0.0  # TELEBILL_CLOCK_OFFSET_S of the starter
    stuck_after_s: float = 3 * 3600.0
    # Keep BillingMonth/NotifyStatus/SendAt/MemberId up to date for Temporal UI. Off only where
    # the server has no such attributes (the time-skipping test server cannot register them).
    search_attributes: bool = True
    # Which path the workflow takes, fixed at its start (a workflow's input never changes, so
    # this versions it as deterministically as a patch marker, without the marker and the
    # TemporalChangeVersion upsert a patch adds to every one of a million workflows):
    # 3 (absent in the inputs of workflows started before 2026-11-26): the plan activity runs
    #   at the start, a timer sleeps until the instant, the plan activity again on waking;
    # 4: started delayed until the instant with SendAt and NotifyStatus already set, it plans
    #   and publishes in one local activity and upserts search attributes only on a change.
    version: int = 3
    # Set only in the input of a run that another run of the same workflow continued as new
    # (its history bounded): where that run was. Absent before 2026-12 (no run continued).
    carried: NotifyCarry | None = None


LEAN = 4  # the version the starters give


def notify_input(
    settings: Settings,
    bill_id: int,
    member_id: int,
    month: str,
    *,
    purpose: str = Purpose.MONTHLY_BILL,
    channel: str = "email",
    reserved_at: str | None = None,
) -> NotifyInput:
    """A notification workflow's input, with this installation's clock and STUCK period."""
    return NotifyInput(
        bill_id=bill_id,
        member_id=member_id,
        month=month,
        purpose=purpose,
        channel=channel,
        reserved_at=reserved_at,
        clock_offset_s=settings.clock_offset_s,
        stuck_after_s=settings.notify_stuck_after_s,
        version=LEAN,
    )


# Not frozen: the workflow keeps it as its state; the `current` query answers with it.
@dataclass(kw_only=True)
class NotifyState:
    status: str = NotifyStatus.PLANNING
    send_at: str | None = None
    why: str = ""
    reserved_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class NotifyCarry:
    """What a notification workflow's run hands to the next when it continues as new: all its
    query, its signals and its search attributes rely on, so the next run goes on where it was."""

    status: str  # NotifyState.status: a NotifyStatus or a delivered_status(channel)
    published: bool  # True: published, waiting for the outcome; False: planning
    send_at: str | None = None  # ISO, the planned instant the query shows
    why: str = ""
    reserved_at: str | None = None  # as the `reserve` signals left it (None: preferred day)
    clock_offset_s: float | None = None  # from a `replan_now` signal (None: the input's)
    runs: int = 1  # runs of this workflow before this one


@dataclass(frozen=True, kw_only=True)
class PlanInput:
    bill_id: int
    member_id: int
    month: str
    purpose: str
    channel: str  # where the chain starts when it is published
    workflow_id: str
    now: str  # ISO; the workflow's clock, so a plan is the same on replay and in tests
    reserved_at: str | None = None
    # Run as a local activity: it holds its workflow's task while it waits for the outcome, so
    # it waits notify_local_outcome_wait_s (short) instead of notify_outcome_wait_s, counted
    # from when that task started (ISO, the server's time; none from workflows before it):
    # a worker slow to schedule the activity must not hold the task longer.
    local: bool = False
    task_started_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class PlanResult:
    send_at: str  # ISO, UTC
    why: str
    status: str | None  # the notification's status in PostgreSQL (terminal: nothing to send)
    published: bool = False  # it was due, so the event went out in the same activity
    outcome: str | None = None  # and how it ended, when that came within the wait
    problem: str | None = None  # no allowed instant: why (the workflow shows it and waits)


@dataclass(frozen=True, kw_only=True)
class OutcomeQuery:
    bill_id: int
    purpose: str


# Where a listed send keeps its members (MemberListRef.kind): a reservation's row, or a row of
# its own for a "send now" (telebill/db/reservation_store.py).
RESERVATION = "reservation"
SEND_LIST = "send_list"


@dataclass(frozen=True, kw_only=True)
class MemberListRef:
    """A stored member list: what a dispatch's input names instead of the list itself (up to a
    million ids; Temporal refuses a payload past 2 MB), read a page at a time where needed."""

    kind: str  # RESERVATION or SEND_LIST
    id: int


@dataclass(frozen=True, kw_only=True)
class StartInput:
    month: str
    first_member_id: int
    last_member_id: int
    members: list[int] | None = None  # a list in the input (dispatches started before 2026-12)
    reserved_at: str | None = None  # signalled to running workflows too
    only_overdue: bool = True  # False: every undelivered bill (a reservation reaches them all)
    member_list: MemberListRef | None = None  # the members, stored (instead of `members`)


@dataclass(frozen=True, kw_only=True)
class MonthScope:
    month: str
    first_member_id: int
    last_member_id: int


@dataclass(frozen=True, kw_only=True)
class ReservationRef:
    id: int
    month: str
    # The list itself: what `notify.undispatched_reservations` returns. Kept because daily
    # dispatches from before 2026-12-03 hold it in their histories (replay decodes it) and a
    # worker still on that code calls that activity during an upgrade.
    members: list[int] | None
    send_at: str  # ISO
    # The reservation's row instead (`notify.undispatched_reservation_refs`; None: the whole
    # month), so that neither the activity's result nor the dispatch's input carries the list.
    member_list: MemberListRef | None = None
