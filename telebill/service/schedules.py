"""The Temporal Schedules: the monthly settlement (day 1), the daily catch-up dispatch and the
monthly retention (day 2: months past the online span archived).

`install` declares them: it creates a Schedule, or updates its spec, action and policies while
keeping what an operator set on it (paused, its note). `status` shows each one's state, its last
and next runs and what it missed; `health` is what the worker's gauges report (telebill/metrics).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telebill.contracts import dispatch, retention, settlement
from telebill.contracts.schedules import (
    DISPATCH_SCHEDULE_ID,
    RETENTION_SCHEDULE_ID,
    SCHEDULE_IDS,
    SETTLEMENT_SCHEDULE_ID,
)
from telebill.contracts.settlement import ScheduledSettlementInput
from telebill.domain.send_window import parse_hhmm
from telebill.errors import TelebillError

if TYPE_CHECKING:
    from temporalio.client import ScheduleActionResult, SchedulePolicy

    from telebill.service.deps import Deps
    from telebill.service.ports import Temporal

SCHEDULE_ID = SETTLEMENT_SCHEDULE_ID  # the ids: telebill/contracts/schedules.py
__all__ = ["DISPATCH_SCHEDULE_ID", "RETENTION_SCHEDULE_ID", "SCHEDULE_ID", "SCHEDULE_IDS"]
# How often each Schedule fires: the daily dispatch's "late" alert is this plus a slack
# (deploy/prometheus/alerts.yml).
DISPATCH_INTERVAL = timedelta(days=1)
RECENT_RUNS = 3  # the last runs `schedules status` shows with their outcome
FAILED_OUTCOMES = frozenset({"FAILED", "TIMED_OUT", "TERMINATED", "CANCELED"})


def policies() -> dict[str, SchedulePolicy]:
    """Each Schedule's policies; docs/operations.md, Schedules, says why each is chosen.

    Monthly settlement: BUFFER_ONE, because a run that comes while another runs stands for
    another month (its month is the instant it was meant for), so it must not be skipped; one
    is the most a 7-day window can hold of a monthly Schedule. Catch-up 7 days: an outage of up
    to a week still settles on its own; a longer one is counted as missed and the month is
    settled by hand (`telebill settle --month`) once the usage is known to be complete. No pause
    on failure: the run only starts `settlement-YYYY-MM` (that one's failure is not the
    Schedule's), and pausing would add next month's settlement to a failure nobody saw yet.

    Daily dispatch: SKIP, because a dispatch still running does the same catch-up a second one
    would (starts are idempotent), and two at once would only double the load. Catch-up 1 day:
    each run catches up everything due, so after a longer outage the latest missed run is the
    only one worth running. No pause on failure: the next day's run retries the same work, and a
    paused Schedule would leave every bill planned beyond the start horizon unstarted; the
    failure pages instead (TelebillDailyDispatchFailed).

    Monthly retention: SKIP, because a run still archiving does what a second would (and two
    would write the same month's files); catch-up 7 days, like the settlement's; no pause on
    failure: a month that could not be archived (still delivering) is tried again next month.
    """
    # lazy: the Temporal SDK (0.3 s at a CLI command's start; see Deps.gateway)
    from temporalio.client import ScheduleOverlapPolicy, SchedulePolicy

    return {
        SCHEDULE_ID: SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ONE,
            catchup_window=timedelta(days=7),
            pause_on_failure=False,
        ),
        DISPATCH_SCHEDULE_ID: SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(days=1),
            pause_on_failure=False,
        ),
        RETENTION_SCHEDULE_ID: SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP,
            catchup_window=timedelta(days=7),
            pause_on_failure=False,
        ),
    }


@dataclass(frozen=True)
class Installed:
    settle_at: str  # HH:MM on day 1
    dispatch_at: str  # HH:MM every day
    time_zone: str
    settlement: str  # created or updated
    dispatch: str
    retention: str = ""
    archive_at: str = ""  # HH:MM on day 2


def _checked(at: str | None, dispatch_at: str | None, zone: str | None, deps: Deps) -> Installed:
    s = deps.settings
    at, dispatch_at, zone = (
        at or s.settle_schedule_time,
        dispatch_at or s.dispatch_schedule_time,
        zone or s.schedule_time_zone,
    )
    for option, text in (("--at", at), ("--dispatch-at", dispatch_at)):
        try:
            parse_hhmm(text)
        except ValueError:
            raise TelebillError(f"{option} must be HH:MM (00:00–23:59), got {text!r}") from None
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TelebillError(f"unknown time zone {zone!r}") from None
    return Installed(at, dispatch_at, zone, "", "")


async def daily_dispatch_running(temporal: Temporal) -> bool:
    """Whether the daily dispatch Schedule is installed and not paused: without it a bill
    planned beyond the start horizon never has its workflow started."""
    described = await temporal.describe_schedule(DISPATCH_SCHEDULE_ID)
    return described is not None and not described.schedule.state.paused


async def install(
    deps: Deps, at: str | None = None, dispatch_at: str | None = None, zone: str | None = None
) -> Installed:
    """Create or update both Schedules (defaults from the settings: day 1 at 02:00 and every
    day at 09:00, Asia/Seoul)."""
    # lazy: the Temporal SDK (0.3 s at a CLI command's start; see Deps.gateway)
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleCalendarSpec,
        ScheduleRange,
        ScheduleSpec,
    )

    chosen = _checked(at, dispatch_at, zone, deps)
    s = deps.settings
    settle_time: time = parse_hhmm(chosen.settle_at)
    dispatch_time: time = parse_hhmm(chosen.dispatch_at)

    def spec(hhmm: time, comment: str, day: int | None = None) -> ScheduleSpec:
        return ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(day)] if day else [ScheduleRange(1, 31)],
                    hour=[ScheduleRange(hhmm.hour)],
                    minute=[ScheduleRange(hhmm.minute)],
                    comment=comment,
                )
            ],
            time_zone_name=chosen.time_zone,
        )

    monthly = Schedule(
        action=ScheduleActionStartWorkflow(
            settlement.SCHEDULED_WORKFLOW,
            ScheduledSettlementInput(
                time_zone=chosen.time_zone, dispatch_queue=s.dispatch_task_queue
            ),
            id=settlement.SCHEDULED_ID,
            task_queue=s.settlement_task_queue,
            execution_timeout=timedelta(days=7),
        ),
        spec=spec(settle_time, "previous month's settlement", day=1),
        policy=policies()[SCHEDULE_ID],
    )
    daily = Schedule(
        action=ScheduleActionStartWorkflow(
            dispatch.SCHEDULED_WORKFLOW,
            args=[chosen.time_zone],
            id=dispatch.SCHEDULED_ID,
            task_queue=s.dispatch_task_queue,
            execution_timeout=timedelta(hours=20),
        ),
        spec=spec(dispatch_time, "catch-up: every due bill has its notification workflow"),
        policy=policies()[DISPATCH_SCHEDULE_ID],
    )
    archive_time: time = parse_hhmm(s.archive_schedule_time)
    retaining = Schedule(
        action=ScheduleActionStartWorkflow(
            retention.RETENTION_WORKFLOW,
            retention.RetentionInput(time_zone=chosen.time_zone),
            id=retention.RETENTION_ID,
            task_queue=s.settlement_task_queue,
            execution_timeout=timedelta(days=7),
        ),
        spec=spec(archive_time, "months past the online span archived", day=2),
        policy=policies()[RETENTION_SCHEDULE_ID],
    )
    temporal = await deps.gateway()
    return Installed(
        chosen.settle_at,
        chosen.dispatch_at,
        chosen.time_zone,
        await temporal.upsert_schedule(SCHEDULE_ID, monthly),
        await temporal.upsert_schedule(DISPATCH_SCHEDULE_ID, daily),
        await temporal.upsert_schedule(RETENTION_SCHEDULE_ID, retaining),
        s.archive_schedule_time,
    )


@dataclass(frozen=True)
class Run:
    """One action of a Schedule: the instant it was meant for, when it started, its workflow
    and how that ended (RUNNING, COMPLETED, FAILED, TIMED_OUT, …; UNKNOWN once Temporal's
    retention has removed it)."""

    scheduled_at: datetime
    started_at: datetime
    workflow_id: str
    outcome: str


@dataclass(frozen=True)
class ScheduleView:
    schedule_id: str
    installed: bool
    paused: bool = False
    note: str = ""
    time_zone: str = ""
    overlap: str = ""
    catchup_window_s: float | None = None
    pause_on_failure: bool = False
    last_runs: list[Run] = field(default_factory=list)  # the latest first
    next_runs: list[datetime] = field(default_factory=list)
    running: int = 0
    actions: int = 0
    missed_catchup_window: int = 0  # runs Temporal dropped: later than the catch-up window
    skipped_overlap: int = 0  # runs skipped because another was running (SKIP)
    created_at: datetime | None = None

    @property
    def last_action_at(self) -> datetime | None:
        """When it last started a workflow (or, never yet, when it was created): what the
        "late" alert measures from."""
        return self.last_runs[0].started_at if self.last_runs else self.created_at

    @property
    def last_failed(self) -> bool:
        """Its latest finished run's workflow failed (timed out, was terminated, cancelled)."""
        done = [r for r in self.last_runs if r.outcome != "RUNNING"]
        return bool(done) and done[0].outcome in FAILED_OUTCOMES

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"last_failed": self.last_failed}


async def _outcome(temporal: Temporal, action: ScheduleActionResult) -> tuple[str, str]:
    """The workflow id of an action and how its run ended (one describe)."""
    # lazy: the Temporal SDK (0.3 s at a CLI command's start; see Deps.gateway)
    from temporalio.client import ScheduleActionExecutionStartWorkflow

    started = action.action
    if not isinstance(started, ScheduleActionExecutionStartWorkflow):
        return "", "UNKNOWN"
    outcome = await temporal.workflow_outcome(started.workflow_id, started.first_execution_run_id)
    return started.workflow_id, outcome


async def view(temporal: Temporal, schedule_id: str, runs: int = RECENT_RUNS) -> ScheduleView:
    """A Schedule as `schedules status` shows it (not installed: `installed` False)."""
    described = await temporal.describe_schedule(schedule_id)
    if described is None:
        return ScheduleView(schedule_id, installed=False)
    sched, info = described.schedule, described.info
    recent = sorted(info.recent_actions, key=lambda a: a.started_at, reverse=True)[:runs]
    last: list[Run] = []
    for action in recent:
        workflow_id, outcome = await _outcome(temporal, action)
        last.append(Run(action.scheduled_at, action.started_at, workflow_id, outcome))
    window = sched.policy.catchup_window
    return ScheduleView(
        schedule_id,
        installed=True,
        paused=sched.state.paused,
        note=sched.state.note or "",
        time_zone=sched.spec.time_zone_name or "UTC",
        overlap=sched.policy.overlap.name,
        catchup_window_s=window.total_seconds() if window is not None else None,
        pause_on_failure=sched.policy.pause_on_failure,
        last_runs=last,
        next_runs=list(info.next_action_times[:runs]),
        running=len(info.running_actions),
        actions=info.num_actions,
        missed_catchup_window=info.num_actions_missed_catchup_window,
        skipped_overlap=info.num_actions_skipped_overlap,
        created_at=info.created_at,
    )


async def status(deps: Deps) -> list[ScheduleView]:
    """Every Schedule: paused and note, policies, last runs and outcomes, next runs, misses."""
    temporal = await deps.gateway()
    return [await view(temporal, schedule_id) for schedule_id in SCHEDULE_IDS]
