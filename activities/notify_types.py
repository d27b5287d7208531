"""The notification feature's payloads and search attributes, shared by its workflows, its
activities and whatever starts or signals them.

Payloads carry ids, months and instants only, never member data.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.common import SearchAttributeKey

from telebill.domain.statuses import Purpose

BILLING_MONTH = SearchAttributeKey.for_keyword("BillingMonth")
NOTIFY_STATUS = SearchAttributeKey.for_keyword("NotifyStatus")
SEND_AT = SearchAttributeKey.for_datetime("SendAt")
MEMBER_ID = SearchAttributeKey.for_int("MemberId")


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    # it waits notify_local_outcome_wait_s (short) instead of notify_outcome_wait_s.
    local: bool = False


@dataclass(frozen=True)
class PlanResult:
    send_at: str  # ISO, UTC
    why: str
    status: str | None  # the notification's status in PostgreSQL (terminal: nothing to send)
    published: bool = False  # it was due, so the event went out in the same activity
    outcome: str | None = None  # and how it ended, when that came within the wait
    problem: str | None = None  # no allowed instant: why (the workflow shows it and waits)


@dataclass(frozen=True)
class OutcomeQuery:
    bill_id: int
    purpose: str


# Where a listed send keeps its members (MemberListRef.kind): a reservation's row, or a row of
# its own for a "send now" (telebill/db/reservation_store.py).
RESERVATION = "reservation"
SEND_LIST = "send_list"


@dataclass(frozen=True)
class MemberListRef:
    """A stored member list: what a dispatch's input names instead of the list itself (up to a
    million ids; Temporal refuses a payload past 2 MB), read a page at a time where needed."""

    kind: str  # RESERVATION or SEND_LIST
    id: int


@dataclass(frozen=True)
class StartInput:
    month: str
    first_member_id: int
    last_member_id: int
    members: list[int] | None = None  # a list in the input (dispatches started before 2026-12)
    reserved_at: str | None = None  # signalled to running workflows too
    only_overdue: bool = True  # False: every undelivered bill (a reservation reaches them all)
    member_list: MemberListRef | None = None  # the members, stored (instead of `members`)


@dataclass(frozen=True)
class MonthScope:
    month: str
    first_member_id: int
    last_member_id: int


@dataclass(frozen=True)
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
