"""The local plan's outcome wait counts from its attempt's scheduling, so that its workflow task
stays well inside its timeout when the worker or PostgreSQL is slow (issue 32, item 5)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from temporalio.testing import ActivityEnvironment

from activities.notification import NotificationActivities, remaining_wait
from telebill.config import Settings
from telebill.contracts.notification import PlanInput

T0 = datetime(2026, 12, 1, tzinfo=UTC)


@given(
    budget=st.floats(min_value=0, max_value=7),
    spent=st.floats(min_value=-60, max_value=60),
)
def test_remaining_wait_is_the_rest_of_the_budget(budget: float, spent: float) -> None:
    elapsed = timedelta(seconds=spent)
    spent = elapsed.total_seconds()  # as a datetime holds it (to the microsecond)
    left = remaining_wait(budget, T0, T0 + elapsed)
    assert 0.0 <= left <= budget
    if spent <= 0:
        assert left == budget  # a clock gone back spends nothing
    elif spent >= budget:
        assert left == 0.0
    else:
        assert abs(left - (budget - spent)) < 1e-6


def plan_input(local: bool, task_started_at: str | None = None) -> PlanInput:
    return PlanInput(
        bill_id=1,
        member_id=1,
        month="2026-11",
        purpose="MONTHLY_BILL",
        channel="email",
        workflow_id="notify-2026-11-1",
        now=T0.isoformat(),
        local=local,
        task_started_at=task_started_at,
    )


def wait_of(
    local: bool, plan_is_local: bool, scheduled_ago_s: float, task_ago_s: float | None = None
) -> float:
    """The outcome wait `outcome_wait` gives inside an activity whose attempt was scheduled
    `scheduled_ago_s` ago, in a workflow task that started `task_ago_s` ago (3 s for a local
    plan, 10 s for a regular one)."""
    started = None
    if task_ago_s is not None:
        started = (datetime.now(UTC) - timedelta(seconds=task_ago_s)).isoformat()
    s = Settings(notify_local_outcome_wait_s=3.0, notify_outcome_wait_s=10.0)
    none: Any = None  # outcome_wait touches neither the pool nor the client
    acts = NotificationActivities(none, s, none, "telebill")
    env = ActivityEnvironment()
    env.info = replace(
        env.info,
        is_local=local,
        current_attempt_scheduled_time=datetime.now(UTC) - timedelta(seconds=scheduled_ago_s),
    )
    return env.run(acts.outcome_wait, plan_input(local=plan_is_local, task_started_at=started))


def test_a_local_plan_that_started_late_waits_less() -> None:
    assert 0.5 < wait_of(True, True, 2.0) <= 1.0  # 3 s budget, 2 s already spent in the task
    assert wait_of(True, True, 0.0) > 2.5
    assert wait_of(True, True, 30.0) == 0.0


def test_a_regular_plan_waits_its_own_longer_wait() -> None:
    assert wait_of(False, False, 30.0) == 10.0


def test_a_local_plan_counts_from_its_workflow_task_when_that_began_earlier() -> None:
    """Scheduled just now in a task that began 2.5 s ago (the worker was slow to run the
    workflow code): the task has 0.5 s of its 3 s left, not 3 s (a send day on the dev server
    held 144 tasks past 5 s before this)."""
    assert 0.0 < wait_of(True, True, 0.0, task_ago_s=2.5) <= 0.5
    assert wait_of(True, True, 0.0, task_ago_s=10.0) == 0.0
    # a task start after the scheduling (clocks apart) changes nothing
    assert 0.5 < wait_of(True, True, 2.0, task_ago_s=0.0) <= 1.0
    assert wait_of(False, False, 0.0, task_ago_s=10.0) == 10.0  # a regular plan is not bound
