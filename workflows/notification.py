"""One workflow per bill notification, and the dispatch that makes sure each bill has one.

BillNotificationWorkflow  id notify-YYYY-MM-<member_id> (a resend: …-resend-<n>)
  started delayed until its planned instant (`start_range` plans a page of bills at once), it
  wakes there and plans again in a local activity (preferences, quiet hours and blackout
  windows as they are now), which publishes the event when it is due and waits a few seconds
  for the outcome (bounded: when Kafka or PostgreSQL is away it gives up after LOCAL_BOUND and
  the same plan runs as a regular activity, retried until the outage is over); not due
  (moved by a change): a durable sleep until the new instant, woken early by a signal
  (Signal-With-Start while the start is still delayed) → the outcome, from that activity
  or, when slower, a signal from the message platform's reporter; when none
  comes within `stuck_after_s` it looks in PostgreSQL, and if the outcome is still unknown it
  marks itself STUCK and keeps waiting. Workflows started before this shape (input version 3)
  keep theirs: a plan activity at the start, a timer, the plan activity again on waking.
  A run whose history reaches HISTORY_BOUND events (STUCK for days, or no send window for
  months) continues as new, handing its state to the next run (NotifyInput.carried).
DispatchWorkflow: starts the workflows a month's bills are missing (catch-up after an outage),
  the admin's "send now" and reserved sends, in member-range pages (bounded, resumable).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.notification import NotificationActivities
    from activities.notify_types import (
        BILLING_MONTH,
        LEAN,
        MEMBER_ID,
        NOTIFY_STATUS,
        SEND_AT,
        MemberListRef,
        MonthScope,
        NotifyCarry,
        NotifyInput,
        OutcomeQuery,
        PlanInput,
        PlanResult,
        ReservationRef,
        StartInput,
    )
    from telebill.domain.month import months_before, previous_month, shard_ranges
    from telebill.messaging.outcome import OUTCOME_SIGNAL, DeliveryOutcome, is_terminal

from workflows.schedule_time import SCHEDULED_INSTANT_PATCH, scheduled_instant

__all__ = ["BILLING_MONTH", "MEMBER_ID", "NOTIFY_STATUS", "SEND_AT", "NotifyInput"]

SHORT = timedelta(minutes=2)
# A single query (an outcome, a month's member range): a worker that dies holding one is
# replaced after this, not after SHORT (issue 32: a dead worker's work moves on within ~30 s).
QUICK = timedelta(seconds=20)
# Activities that run for long (the regular plan-and-publish waiting for its outcome, a range
# of workflow starts) heartbeat every quarter of this from a task of their own
# (activities/notification.py `heartbeating`), so the server sees a dead worker's activity as
# lost this long after its last heartbeat and hands it to a live worker.
HEARTBEAT = timedelta(seconds=10)
START_HEARTBEAT = timedelta(seconds=15)
# The local plan-and-publish, bounded (2026-12; before: 30 s an attempt, retried without end,
# holding its workflow task slot for as long as Kafka or PostgreSQL was away and heartbeating
# the task, 3 history events every 8 s). Its whole life, retries included, fits in LOCAL_BOUND:
# the longest outcome wait the settings allow (notify_local_outcome_wait_s ≤ 7 s) plus 3 s to
# plan and publish. Up to 3 attempts (1 s, then 2 s apart, inside the task: the threshold
# keeps those backoffs from becoming timers) for a failure that comes fast (a broker refusing
# connections), the bound cutting one that hangs (a send waiting for a partition's leader).
LOCAL_BOUND = timedelta(seconds=10)
LOCAL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)
LOCAL_RETRY_THRESHOLD = timedelta(seconds=2)
# Then the same work as a regular activity, retried without limit (RETRY, up to a minute
# apart): an outage is waited out by the server's retry timers, no workflow task open and no
# task slot held, and the worker's slots go on serving the workflows whose publish works.
# Chosen over a workflow timer between local attempts (a task and ~6 events every retry) and
# over failing the workflow (a lost plan). The patch is asked only on that path: the million
# workflows whose local activity succeeds carry no marker, and a history from before (whose
# local activity could fail only for good: no bill) replays as it was.
LOCAL_FALLBACK_PATCH = "notify-plan-fallback-activity"
NO_SEND_WINDOW = "NO_SEND_WINDOW"
REPLAN_BLOCKED = timedelta(days=1)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Two loops of BillNotificationWorkflow have no end of their own: STUCK checks PostgreSQL every
# stuck_after_s (3 h: 11 events a check, ~90 a day) and NO_SEND_WINDOW plans again daily (6 events
# a day in version 4). A run that reaches this many events, or that Temporal says is long
# (history size), continues as new. 500 keeps every run far below Temporal's suggestion (4 Ki
# events) and warning (10 Ki) while a new run costs little (~5 events): STUCK continues about
# every 5½ days, NO_SEND_WINDOW about every 80 days.
HISTORY_BOUND = 500
# Added 2026-12: continue-as-new in those loops. The patch id carries the bound's multiple the
# history has reached, so a workflow that was already past the bound on older code (its replay
# memoizes "not patched" for that id) continues as new at the next multiple instead of never.
CONTINUE_AS_NEW_PATCH = "notify-continue-as-new"


@dataclass
class NotifyState:
    status: str = "PLANNING"
    send_at: str | None = None
    why: str = ""
    reserved_at: str | None = None


# Outside the sandbox: one runs per bill, a million a month, and creating a sandbox for each
# (re-importing and compiling this module) took 38% of a worker's CPU on a send day (py-spy,
# bench.month). Its code calls nothing but workflow APIs and the replay tests guard it; the
# other workflows, which run a few times a month, keep the sandbox.
@workflow.defn(sandboxed=False)
class BillNotificationWorkflow:
    def __init__(self) -> None:
        self.state = NotifyState()
        self.replan = False
        self.outcome: str | None = None
        self.search_attributes = True
        self.clock_offset_s: float | None = None  # set by `replan`; else the input's
        self.reserve_told = False  # a `reserve` signal came to this run (it wins over carried)
        # What Temporal UI shows (status, SendAt), when only changes are upserted (version 4).
        self.shown: tuple[str | None, datetime | None] | None = None

    @workflow.query
    def current(self) -> NotifyState:
        return self.state

    @workflow.signal
    def preferences_changed(self) -> None:
        self.replan = True

    @workflow.signal
    def reserve(self, at: str | None) -> None:
        """A reserved instant (None: back to the preferred day)."""
        self.state.reserved_at = at
        self.reserve_told = True
        self.replan = True

    @workflow.signal
    def replan_now(self, clock_offset_s: float | None = None) -> None:
        """Plan again now (`telebill notify replan`): after the installation's clock offset
        moved (given here, so that this workflow's clock moves with the processes'), or after
        blackout windows changed (a change of windows wakes nobody by itself)."""
        if clock_offset_s is not None:
            self.clock_offset_s = clock_offset_s
        self.replan = True

    @workflow.signal(name=OUTCOME_SIGNAL)
    def delivery_outcome(self, outcome: DeliveryOutcome) -> None:
        if is_terminal(outcome.status) and self.outcome is None:
            self.outcome = outcome.status

    def now(self, inp: NotifyInput) -> datetime:
        offset = inp.clock_offset_s if self.clock_offset_s is None else self.clock_offset_s
        return workflow.now() + timedelta(seconds=offset)

    def mark(self, status: str, send_at: datetime | None = None) -> None:
        self.state.status = status
        if not self.search_attributes:
            return
        if self.shown is not None:  # version 4: a visibility write only for a change
            if self.shown == (status, send_at or self.shown[1]):
                return
            self.shown = (status, send_at or self.shown[1])
        updates: list[SearchAttributeUpdate[Any]] = [NOTIFY_STATUS.value_set(status)]
        if send_at is not None:
            updates.append(SEND_AT.value_set(send_at))
        workflow.upsert_search_attributes(updates)

    def history_full(self) -> bool:
        """This run's history is long enough to continue as new (deterministic: Temporal gives
        the length and the suggestion with each workflow task, the same on replay)."""
        info = workflow.info()
        length = info.get_current_history_length()
        if length < HISTORY_BOUND and not info.is_continue_as_new_suggested():
            return False  # no patch asked for: histories recorded before it replay as they were
        return workflow.patched(f"{CONTINUE_AS_NEW_PATCH}-{length // HISTORY_BOUND}")

    async def continue_as_new(self, inp: NotifyInput, published: bool) -> None:
        """Continue as new with this run's state, unless it was published and its outcome
        came meanwhile (then it returns and the caller finishes; while planning, the next
        run's plan finds a delivered bill in PostgreSQL). Signals are not lost: those
        delivered with this workflow task have run (handlers first), one arriving while the
        command is sent fails the task and Temporal delivers it again with it, and later ones
        reach the next run."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        if published and self.outcome is not None:
            return
        s = self.state
        previous = inp.carried.runs if inp.carried is not None else 0
        carry = NotifyCarry(
            s.status, published, s.send_at, s.why, s.reserved_at, self.clock_offset_s, previous + 1
        )
        # the same input (version, STUCK period, search attributes) with the state; search
        # attributes and the workflow id go on by themselves
        workflow.continue_as_new(replace(inp, carried=carry))

    def resume(self, carried: NotifyCarry) -> None:
        """Take on the previous run's state; what a signal told this run already wins."""
        reserved_at = self.state.reserved_at if self.reserve_told else carried.reserved_at
        self.state = NotifyState(carried.status, carried.send_at, carried.why, reserved_at)
        if self.clock_offset_s is None:
            self.clock_offset_s = carried.clock_offset_s

    async def plan(self, inp: NotifyInput) -> PlanResult:
        lean = inp.version >= LEAN
        plan_input = PlanInput(
            inp.bill_id,
            inp.member_id,
            inp.month,
            inp.purpose,
            inp.channel,
            workflow.info().workflow_id,
            self.now(inp).isoformat(),
            self.state.reserved_at,
            local=lean,
        )
        if lean:  # no activity task, no events but a marker: the work of one workflow task
            try:
                return await workflow.execute_local_activity_method(
                    NotificationActivities.plan,
                    plan_input,
                    schedule_to_close_timeout=LOCAL_BOUND,
                    retry_policy=LOCAL_RETRY,
                    local_retry_threshold=LOCAL_RETRY_THRESHOLD,
                )
            except FailureError as err:  # its attempts spent, the last error as it was
                if not worth_waiting_out(err) or not workflow.patched(LOCAL_FALLBACK_PATCH):
                    raise
                workflow.logger.warning(
                    "plan of bill %s gave up locally (%s): as a regular activity now",
                    inp.bill_id,
                    err.cause or err,
                )
                # it may wait the longer outcome wait: it holds no workflow task meanwhile
                plan_input = replace(plan_input, local=False)
        # Heartbeats (the activity's own, while it publishes and waits for the outcome): a dead
        # worker's attempt is retried elsewhere after HEARTBEAT, not after SHORT.
        return await workflow.execute_activity_method(
            NotificationActivities.plan,
            plan_input,
            start_to_close_timeout=SHORT,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RETRY,
        )

    @workflow.run
    async def run(self, inp: NotifyInput) -> str:
        if inp.carried is not None:
            self.resume(inp.carried)
        elif self.state.reserved_at is None:  # a reservation signalled with the start wins
            self.state.reserved_at = inp.reserved_at
        self.search_attributes = inp.search_attributes
        shown = workflow.info().typed_search_attributes
        if inp.version >= LEAN and self.search_attributes:
            self.shown = (shown.get(NOTIFY_STATUS), shown.get(SEND_AT))
        if self.search_attributes and shown.get(BILLING_MONTH) is None:
            # the starters set these; a workflow started otherwise sets them itself
            workflow.upsert_search_attributes(
                [BILLING_MONTH.value_set(inp.month), MEMBER_ID.value_set(inp.member_id)]
            )
        if inp.carried is not None and inp.carried.published:
            return await self.await_outcome(inp)
        while True:
            if self.history_full():  # days on end without a send window, or many re-plans
                await self.continue_as_new(inp, published=False)
            self.replan = False
            plan = await self.plan(inp)
            if is_terminal(plan.status):  # delivered before this run (e.g. a catch-up start)
                self.mark(plan.status)
                return plan.status
            if plan.problem is not None:
                # No allowed instant (windows cover a day): shown, and planned again on a
                # change of preferences or once a day (a blackout window removed is no signal).
                self.state.why = plan.problem
                if self.state.status != NO_SEND_WINDOW:
                    self.mark(NO_SEND_WINDOW)
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self.replan, timeout=REPLAN_BLOCKED)
                continue
            send_at = datetime.fromisoformat(plan.send_at)
            self.state.send_at, self.state.why = plan.send_at, plan.why
            if plan.published:  # it was due: the plan activity published it
                if is_terminal(plan.outcome):  # and saw how it ended
                    self.outcome = plan.outcome
                break
            self.mark("SCHEDULED", send_at)
            wait = max((send_at - self.now(inp)).total_seconds(), 1.0)
            # On waking (or a signal) the loop re-plans, so later changes and windows are honoured.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.replan, timeout=timedelta(seconds=wait))
        if self.outcome is None:
            self.mark("PUBLISHED", send_at)
        return await self.await_outcome(inp)

    async def await_outcome(self, inp: NotifyInput) -> str:
        """Published: the outcome, signalled or (after stuck_after_s) read from PostgreSQL."""
        send_at = datetime.fromisoformat(self.state.send_at) if self.state.send_at else None
        while self.outcome is None:
            if self.history_full():  # STUCK for days
                await self.continue_as_new(inp, published=True)
                continue  # the outcome came with the last task: finish
            try:
                await workflow.wait_condition(
                    lambda: self.outcome is not None,
                    timeout=timedelta(seconds=inp.stuck_after_s),
                )
            except TimeoutError:
                status = await workflow.execute_activity_method(
                    NotificationActivities.outcome,
                    OutcomeQuery(inp.bill_id, inp.purpose),
                    start_to_close_timeout=QUICK,
                    retry_policy=RETRY,
                )
                if is_terminal(status):
                    self.outcome = status
                elif self.state.status != "STUCK":
                    self.mark("STUCK")
        self.mark(self.outcome, send_at)
        return self.outcome


def worth_waiting_out(err: FailureError) -> bool:
    """Whether the local plan's failure is an outage to wait out (timed out, attempts spent on
    retryable errors), not a refusal for good (no such bill) or a cancellation. A local
    activity's timeout comes as an ActivityError, its last retryable error (attempts spent)
    as that ApplicationError itself."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, CancelledError):
        return False
    return not (isinstance(cause, ApplicationError) and cause.non_retryable)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class DispatchResult:
    month: str
    started: int  # workflows started or signalled


@workflow.defn
class DispatchWorkflow:
    @workflow.run
    async def run(self, inp: DispatchInput) -> DispatchResult:
        month = inp.month or previous_month(workflow.now(), inp.time_zone)
        scope: MonthScope | None = await workflow.execute_activity_method(
            NotificationActivities.month_scope,
            month,
            start_to_close_timeout=QUICK,
            retry_policy=RETRY,
        )
        if scope is None:
            return DispatchResult(month, 0)
        targeted = (
            inp.members is not None or inp.reserved_at is not None or inp.member_list is not None
        )
        ranges = shard_ranges(scope.first_member_id, scope.last_member_id, inp.range_size)
        counts = await start_in_ranges(
            month,
            ranges,
            inp.parallel,
            inp.members,
            inp.reserved_at,
            only_overdue=not targeted,
            member_list=inp.member_list,
        )
        return DispatchResult(month, counts)


async def start_in_ranges(
    month: str,
    ranges: list[tuple[int, int]],
    parallel: int,
    members: list[int] | None = None,
    reserved_at: str | None = None,
    only_overdue: bool = True,
    member_list: MemberListRef | None = None,
) -> int:
    """Run the start activity over member ranges, `parallel` at once (from a workflow)."""
    gate = asyncio.Semaphore(max(parallel, 1))

    async def one(lo: int, hi: int) -> int:
        # Each range gets only its own members: a "send now" naming 100,000 members put the
        # whole list in every range's input (10 MB of history, workflow tasks too slow to
        # finish: measured at 1M). Same activities and order; only their inputs shrink.
        mine = None if members is None else [m for m in members if lo <= m <= hi]
        async with gate:
            started: int = await workflow.execute_activity_method(
                NotificationActivities.start_range,
                StartInput(month, lo, hi, mine, reserved_at, only_overdue, member_list),
                start_to_close_timeout=timedelta(hours=6),
                heartbeat_timeout=START_HEARTBEAT,
                retry_policy=RETRY,
            )
            return started

    return sum(await asyncio.gather(*(one(lo, hi) for lo, hi in ranges)))


# The month being sent and the one before it: a send instant late on a send month's last day
# that an outage makes pass is still caught up once the calendar has moved on.
CATCH_UP_MONTHS = 2
# Added 2026-11-26: the daily dispatch also starts reservations whose own dispatch failed.
RESERVATIONS_PATCH = "dispatch-undispatched-reservations"
# Added 2026-12-03: those reservations' members travel by reference (their row), not as a list.
RESERVATION_REFS_PATCH = "dispatch-reservations-by-reference"


def dispatch_months(time_zone: str) -> list[str]:
    """The months a daily run catches up, the latest first: those of the day the Schedule meant
    (a run caught up late does that day's work), and those of today when the run is late enough
    to have crossed a month (today's run may be skipped as an overlap of this one)."""
    now = workflow.now()
    if not workflow.patched(SCHEDULED_INSTANT_PATCH):  # a run from before 2026-12-03
        return months_before(now, time_zone, CATCH_UP_MONTHS)
    meant = months_before(scheduled_instant(), time_zone, CATCH_UP_MONTHS)
    return sorted({*meant, *months_before(now, time_zone, CATCH_UP_MONTHS)}, reverse=True)


@workflow.defn
class ScheduledDispatchWorkflow:
    """Started by the daily Schedule: catch-up for the months before today, and reservations
    whose dispatch failed (Temporal was down when they were made)."""

    @workflow.run
    async def run(self, time_zone: str) -> list[DispatchResult]:
        results: list[DispatchResult] = []
        wid = workflow.info().workflow_id
        for month in dispatch_months(time_zone):
            results.append(
                await workflow.execute_child_workflow(
                    DispatchWorkflow.run,
                    DispatchInput(month=month, time_zone=time_zone),
                    id=f"{wid}/dispatch-{month}",
                )
            )
        if workflow.patched(RESERVATIONS_PATCH):
            # Runs recorded before 2026-12-03 asked for the lists themselves (their histories
            # hold that activity); a new run asks for references to the reservations' rows.
            by_reference = workflow.patched(RESERVATION_REFS_PATCH)
            pending: list[ReservationRef] = await workflow.execute_activity_method(
                NotificationActivities.undispatched_reservation_refs
                if by_reference
                else NotificationActivities.undispatched_reservations,
                start_to_close_timeout=SHORT,
                retry_policy=RETRY,
            )
            for r in pending:
                results.append(
                    await workflow.execute_child_workflow(
                        DispatchWorkflow.run,
                        DispatchInput(
                            r.month,
                            reserved_at=r.send_at,
                            time_zone=time_zone,
                            member_list=r.member_list,
                        )
                        if by_reference
                        else DispatchInput(r.month, r.members, r.send_at, time_zone),
                        id=f"{wid}/reserve-{r.id}",
                    )
                )
                await workflow.execute_activity_method(
                    NotificationActivities.reservation_dispatched,
                    r.id,
                    start_to_close_timeout=SHORT,
                    retry_policy=RETRY,
                )
        return results
