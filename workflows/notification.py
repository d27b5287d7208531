"""One workflow per bill notification.

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
The dispatch that makes sure each bill has one is in workflows/dispatch.py.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.notification import NotificationActivities
    from telebill.contracts.notification import (
        CURRENT,
        DELIVERY_OUTCOME,
        LEAN,
        PREFERENCES_CHANGED,
        REPLAN_NOW,
        RESERVE,
        WORKFLOW,
        NotifyCarry,
        NotifyInput,
        NotifyState,
        OutcomeQuery,
        PlanInput,
        PlanResult,
    )
    from telebill.contracts.search_attributes import (
        BILLING_MONTH,
        MEMBER_ID,
        NOTIFY_STATUS,
        SEND_AT,
    )
    from telebill.domain.statuses import NotifyStatus
    from telebill.messaging.outcome import DeliveryOutcome, is_terminal

from workflows.activity_options import HEARTBEAT, QUICK, RETRY, SHORT

__all__ = ["BILLING_MONTH", "MEMBER_ID", "NOTIFY_STATUS", "SEND_AT", "NotifyInput"]

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
REPLAN_BLOCKED = timedelta(days=1)
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


# Outside the sandbox: one runs per bill, a million a month, and creating a sandbox for each
# (re-importing and compiling this module) took 38% of a worker's CPU on a send day (py-spy,
# bench.month). Its code calls nothing but workflow APIs and the replay tests guard it; the
# other workflows, which run a few times a month, keep the sandbox.
@workflow.defn(name=WORKFLOW, sandboxed=False)
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

    @workflow.query(name=CURRENT)
    def current(self) -> NotifyState:
        return self.state

    @workflow.signal(name=PREFERENCES_CHANGED)
    def preferences_changed(self) -> None:
        self.replan = True

    @workflow.signal(name=RESERVE)
    def reserve(self, at: str | None) -> None:
        """A reserved instant (None: back to the preferred day)."""
        self.state.reserved_at = at
        self.reserve_told = True
        self.replan = True

    @workflow.signal(name=REPLAN_NOW)
    def replan_now(self, clock_offset_s: float | None = None) -> None:
        """Plan again now (`telebill notify replan`): after the installation's clock offset
        moved (given here, so that this workflow's clock moves with the processes'), or after
        blackout windows changed (a change of windows wakes nobody by itself)."""
        if clock_offset_s is not None:
            self.clock_offset_s = clock_offset_s
        self.replan = True

    @workflow.signal(name=DELIVERY_OUTCOME)
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
            status=s.status,
            published=published,
            send_at=s.send_at,
            why=s.why,
            reserved_at=s.reserved_at,
            clock_offset_s=self.clock_offset_s,
            runs=previous + 1,
        )
        # the same input (version, STUCK period, search attributes) with the state; search
        # attributes and the workflow id go on by themselves
        workflow.continue_as_new(replace(inp, carried=carry))

    def resume(self, carried: NotifyCarry) -> None:
        """Take on the previous run's state; what a signal told this run already wins."""
        reserved_at = self.state.reserved_at if self.reserve_told else carried.reserved_at
        self.state = NotifyState(
            status=carried.status,
            send_at=carried.send_at,
            why=carried.why,
            reserved_at=reserved_at,
        )
        if self.clock_offset_s is None:
            self.clock_offset_s = carried.clock_offset_s

    async def plan(self, inp: NotifyInput) -> PlanResult:
        lean = inp.version >= LEAN
        plan_input = PlanInput(
            bill_id=inp.bill_id,
            member_id=inp.member_id,
            month=inp.month,
            purpose=inp.purpose,
            channel=inp.channel,
            workflow_id=workflow.info().workflow_id,
            now=self.now(inp).isoformat(),
            reserved_at=self.state.reserved_at,
            local=lean,
            # the workflow task's start (not the installation's clock): an activity's input is
            # not compared on replay, so histories recorded without it replay as before
            task_started_at=workflow.now().isoformat() if lean else None,
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
                if self.state.status != NotifyStatus.NO_SEND_WINDOW:
                    self.mark(NotifyStatus.NO_SEND_WINDOW)
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self.replan, timeout=REPLAN_BLOCKED)
                continue
            send_at = datetime.fromisoformat(plan.send_at)
            self.state.send_at, self.state.why = plan.send_at, plan.why
            if plan.published:  # it was due: the plan activity published it
                if is_terminal(plan.outcome):  # and saw how it ended
                    self.outcome = plan.outcome
                break
            self.mark(NotifyStatus.SCHEDULED, send_at)
            wait = max((send_at - self.now(inp)).total_seconds(), 1.0)
            # On waking (or a signal) the loop re-plans, so later changes and windows are honoured.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.replan, timeout=timedelta(seconds=wait))
        if self.outcome is None:
            self.mark(NotifyStatus.PUBLISHED, send_at)
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
                    OutcomeQuery(bill_id=inp.bill_id, purpose=inp.purpose),
                    start_to_close_timeout=QUICK,
                    retry_policy=RETRY,
                )
                if is_terminal(status):
                    self.outcome = status
                elif self.state.status != NotifyStatus.STUCK:
                    self.mark(NotifyStatus.STUCK)
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
