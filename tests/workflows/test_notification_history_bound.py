"""A notification that waits for a year keeps a bounded history: STUCK (a PostgreSQL check every
3 h) or without a send window (planned again daily), each run continues as new at
HISTORY_BOUND events and hands its state on, and after dozens of runs the workflow still
answers its query and reacts to its signals. Time-skipping: a simulated year takes seconds, and
every instant is taken from the server's clock."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notification import OutcomeQuery, PlanInput, PlanResult
from telebill.contracts.notification import LEAN
from telebill.messaging.outcome import OUTCOME_SIGNAL, DeliveryOutcome
from workflows.notification import HISTORY_BOUND, BillNotificationWorkflow, NotifyInput

YEAR = timedelta(days=365)
STUCK_AFTER = timedelta(hours=3)  # the installation's default (notify_stuck_after_s)
# A run ends at the first loop turn at or past the bound: one more STUCK check (11 events) or
# day without a window (6), and the continue-as-new itself, may come after it.
RUN_MOST = HISTORY_BOUND + 20
PROBLEM = "no allowed instant: blackout 00:00–23:59"


@dataclass
class StandIns:
    """member 1: published at once, its outcome never reported (STUCK until PostgreSQL has it);
    member 2: no allowed instant until `window_open` (then due, delivered at once)."""

    stuck_status: str = "PENDING"
    window_open: bool = False
    plans: dict[int, list[PlanInput]] = field(default_factory=lambda: {1: [], 2: []})

    @activity.defn(name="notify.plan")
    async def plan(self, inp: PlanInput) -> PlanResult:
        self.plans[inp.member_id].append(inp)
        if inp.member_id == 2 and not self.window_open:
            return PlanResult(send_at=inp.now, why=PROBLEM, status=None, problem=PROBLEM)
        outcome = "DELIVERED_EMAIL" if inp.member_id == 2 else None
        return PlanResult(send_at=inp.now, why="due", status=None, published=True, outcome=outcome)

    @activity.defn(name="notify.outcome")
    async def outcome(self, inp: OutcomeQuery) -> str | None:
        return self.stuck_status


async def run_lengths(client: Client, workflow_id: str, first_run_id: str) -> list[int]:
    """The number of events of each run, first to current, following continue-as-new."""
    lengths: list[int] = []
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
        attrs = last.workflow_execution_continued_as_new_event_attributes
        run_id = attrs.new_execution_run_id if continued else None
    return lengths


async def skip(env: WorkflowEnvironment, span: timedelta) -> None:
    """Skip `span` in steps of half a month: one skip of half a year (~1,500 timers and their
    tasks) is one call to the test server, and on a loaded machine that call ran past its
    deadline ("Timeout expired", twice on 2026-12-03, once in CI's leap-day run)."""
    step = timedelta(days=15)
    while span > timedelta(0):
        await env.sleep(min(step, span))
        span -= step


async def start(
    client: Client, queue: str, member: int, month: str
) -> WorkflowHandle[BillNotificationWorkflow, str]:
    return await client.start_workflow(
        BillNotificationWorkflow.run,
        NotifyInput(
            bill_id=member,
            member_id=member,
            month=month,
            stuck_after_s=STUCK_AFTER.total_seconds(),
            search_attributes=False,
            version=LEAN,
        ),
        id=f"notify-{month}-{member}-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
    )


async def test_a_year_stuck_and_a_year_without_a_window_keep_bounded_histories(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env, s = own_clock_env, StandIns()
    queue = f"bound-{uuid.uuid4().hex[:8]}"
    began = await env.get_current_time()
    month = f"{began:%Y-%m}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[BillNotificationWorkflow],
        activities=[s.plan, s.outcome],
    ):
        stuck = await start(env.client, queue, 1, month)
        blocked = await start(env.client, queue, 2, month)
        stuck_run, blocked_run = stuck.result_run_id, blocked.result_run_id
        assert stuck_run and blocked_run
        await skip(env, YEAR / 2)
        # told mid-way: a reservation and a moved clock are state the next runs must keep
        reserved = (began + YEAR).isoformat()
        await blocked.signal(BillNotificationWorkflow.reserve, reserved)
        await blocked.signal(BillNotificationWorkflow.replan_now, 86_400.0)
        await skip(env, YEAR / 2)

        stuck_runs = await run_lengths(env.client, stuck.id, stuck_run)
        blocked_runs = await run_lengths(env.client, blocked.id, blocked_run)
        print(f"STUCK a year: {len(stuck_runs)} runs, events per run {stuck_runs}")
        print(f"no window a year: {len(blocked_runs)} runs, events per run {blocked_runs}")
        # ~2,900 checks: without continue-as-new one history of ~32,000 events
        assert len(stuck_runs) >= 50 and max(stuck_runs) <= RUN_MOST
        # ~365 plans: ~2,200 events in one history before
        assert len(blocked_runs) >= 4 and max(blocked_runs) <= RUN_MOST

        # the current run answers with the state it was handed
        shown = await stuck.query(BillNotificationWorkflow.current)
        assert shown.status == "STUCK" and shown.send_at is not None
        assert datetime.fromisoformat(shown.send_at) - began < STUCK_AFTER
        blocked_state = await blocked.query(BillNotificationWorkflow.current)
        assert blocked_state.status == "NO_SEND_WINDOW" and blocked_state.why == PROBLEM
        assert blocked_state.reserved_at == reserved
        # runs after the signal planned with the reservation and the moved clock
        last_plan = s.plans[2][-1]
        assert last_plan.reserved_at == reserved
        now = await env.get_current_time()
        # planned within the last day, by a clock a day ahead (without it: within (-1 d, 0])
        ahead = datetime.fromisoformat(last_plan.now) - now
        assert timedelta(0) < ahead <= timedelta(days=1)

        # and it reacts to its signals: the reporter's outcome ends the STUCK one, a change
        # of preferences (a window open again) plans the other at once
        told = DeliveryOutcome(1, "MONTHLY_BILL", "DELIVERED_SMS", "sms", now.isoformat())
        await stuck.signal(OUTCOME_SIGNAL, told)
        s.window_open = True
        await blocked.signal(BillNotificationWorkflow.preferences_changed)
        assert await asyncio.wait_for(stuck.result(), 60) == "DELIVERED_SMS"
        assert await asyncio.wait_for(blocked.result(), 60) == "DELIVERED_EMAIL"
        # planned at once on the signal (by the clock a day ahead), not on the next day's turn
        sent = datetime.fromisoformat(s.plans[2][-1].now) - timedelta(days=1)
        assert sent - now < timedelta(hours=1)
