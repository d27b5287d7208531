"""BillNotificationWorkflow on the time-skipping server: it sleeps until the member's send instant
(weeks, if need be), honours quiet hours, clamps day 31 in February, re-plans on a signal, marks
itself STUCK without an outcome, and a second start is a no-op. The activities are stand-ins
around the real pure planner (the real ones run against PostgreSQL and Kafka in
tests/integration). The time-skipping server cannot register search attributes, so they are off
here; the end-to-end test checks them on the dev server."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notification import OutcomeQuery, PlanInput, PlanResult
from telebill.domain.month import parse_month
from telebill.domain.send_window import Window, plan_send
from telebill.messaging.outcome import OUTCOME_SIGNAL, DeliveryOutcome
from workflows.notification import BillNotificationWorkflow, NotifyInput

SEOUL = ZoneInfo("Asia/Seoul")


@dataclass
class Member:
    preferred_day: int
    quiet: tuple[time, time] | None = None
    zone: str = "Asia/Seoul"


@dataclass
class StandIns:
    env: WorkflowEnvironment
    member: Member
    month: str
    report: bool = True  # the message platform reports the outcome
    published: list[datetime] = field(default_factory=list)
    db_status: str = "PENDING"

    @activity.defn(name="notify.plan")
    async def plan(self, inp: PlanInput) -> PlanResult:
        m = self.member
        windows = [Window(m.quiet[0], m.quiet[1], m.zone)] if m.quiet else []
        reserved = datetime.fromisoformat(inp.reserved_at) if inp.reserved_at else None
        now = datetime.fromisoformat(inp.now)
        p = plan_send(parse_month(self.month), m.preferred_day, m.zone, now, windows, reserved)
        due = p.send_at <= now
        if due:  # published, as the real activity does
            self.published.append(await self.env.get_current_time())
            if self.report:
                handle = self.env.client.get_workflow_handle(inp.workflow_id)
                outcome = DeliveryOutcome(inp.bill_id, inp.purpose, "DELIVERED_EMAIL", "email", "")
                asyncio.get_running_loop().create_task(handle.signal(OUTCOME_SIGNAL, outcome))
        return PlanResult(p.send_at.isoformat(), p.explain(), None, due)

    @activity.defn(name="notify.outcome")
    async def outcome(self, inp: OutcomeQuery) -> str | None:
        return self.db_status

    def worker(self, queue: str) -> Worker:
        return Worker(
            self.env.client,
            task_queue=queue,
            workflows=[BillNotificationWorkflow],
            activities=[self.plan, self.outcome],
        )


async def start(
    client: Client, queue: str, month: str = "2026-11", stuck_after_s: float = 3600
) -> WorkflowHandle[BillNotificationWorkflow, str]:
    return await client.start_workflow(
        BillNotificationWorkflow.run,
        NotifyInput(1, 7, month, stuck_after_s=stuck_after_s, search_attributes=False),
        id=f"notify-{month}-7-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def run(env: WorkflowEnvironment, s: StandIns) -> str:
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        return await (await start(env.client, queue, s.month)).result()


def local(dt: datetime, zone: str = "Asia/Seoul") -> datetime:
    return dt.astimezone(ZoneInfo(zone))


async def test_a_preferred_day_weeks_away_is_sent_then_and_not_before(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    started = await env.get_current_time()
    s = StandIns(env, Member(preferred_day=20), "2026-11")
    expected = datetime(2026, 12, 20, tzinfo=SEOUL)
    assert started < expected - timedelta(days=7), "the test assumes it runs before mid-December"
    assert await run(env, s) == "DELIVERED_EMAIL"
    assert len(s.published) == 1
    assert expected <= s.published[0] < expected + timedelta(minutes=1)


async def test_quiet_hours_over_the_preferred_morning_send_it_when_they_end(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    s = StandIns(env, Member(preferred_day=15, quiet=(time(22, 0), time(9, 30))), "2026-11")
    await run(env, s)
    at = local(s.published[0])
    assert (at.date(), at.hour, at.minute) == (datetime(2026, 12, 15).date(), 9, 30)


async def test_day_31_in_february_is_the_28th(own_clock_env: WorkflowEnvironment) -> None:
    env = own_clock_env
    s = StandIns(env, Member(preferred_day=31), "2027-01")
    await run(env, s)
    assert local(s.published[0]).date() == datetime(2027, 2, 28).date()


async def test_a_preference_change_during_the_sleep_moves_the_send(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    s = StandIns(env, Member(preferred_day=25, zone="Europe/Berlin"), "2026-11")
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue)
        for _ in range(100):  # queries do not advance the clock; result() would
            if (await handle.query(BillNotificationWorkflow.current)).status == "SCHEDULED":
                break
            await asyncio.sleep(0.1)
        s.member = Member(preferred_day=3, zone="Europe/Berlin")  # saved by `member update`
        await handle.signal(BillNotificationWorkflow.preferences_changed)
        assert await handle.result() == "DELIVERED_EMAIL"
    at = local(s.published[0], "Europe/Berlin")
    assert at.date() == datetime(2026, 12, 3).date() and at.hour == 0


async def test_a_clock_moved_past_the_send_instant_sends_at_once_when_told(
    own_clock_env: WorkflowEnvironment,
) -> None:
    """`telebill notify replan` after TELEBILL_CLOCK_OFFSET_S moved: the sleeping workflow
    takes the installation's new clock and finds its instant passed."""
    env = own_clock_env
    s = StandIns(env, Member(preferred_day=20), "2026-11")
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue)
        for _ in range(100):
            if (await handle.query(BillNotificationWorkflow.current)).status == "SCHEDULED":
                break
            await asyncio.sleep(0.1)
        started = await env.get_current_time()
        jump = (datetime(2026, 12, 20, 9, tzinfo=SEOUL) - started).total_seconds()
        await handle.signal(BillNotificationWorkflow.replan_now, jump)
        assert await handle.result() == "DELIVERED_EMAIL"
    assert len(s.published) == 1
    assert s.published[0] - started < timedelta(minutes=1), "it slept on by the old clock"


async def test_no_outcome_marks_it_stuck_and_it_keeps_waiting(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    s = StandIns(env, Member(preferred_day=1), "2026-10", report=False)  # Nov 1st: passed
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue, "2026-10", stuck_after_s=600)
        await env.sleep(700)
        assert (await handle.query(BillNotificationWorkflow.current)).status == "STUCK"
        desc = await handle.describe()
        assert desc.status is not None and desc.status.name == "RUNNING"
        await env.sleep(3_000)  # still waiting, still STUCK
        assert (await handle.query(BillNotificationWorkflow.current)).status == "STUCK"
        s.db_status = "DELIVERED_SMS"  # the outcome turns up in PostgreSQL
        await env.sleep(700)
        assert await handle.result() == "DELIVERED_SMS"
    assert len(s.published) == 1


async def test_a_second_start_is_a_no_op(own_clock_env: WorkflowEnvironment) -> None:
    env = own_clock_env
    s = StandIns(env, Member(preferred_day=10), "2026-11")
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        wid = f"notify-2026-11-7-{uuid.uuid4().hex[:6]}"
        handles = [
            await env.client.start_workflow(
                BillNotificationWorkflow.run,
                NotifyInput(1, 7, "2026-11", search_attributes=False),
                id=wid,
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            for _ in range(2)
        ]
        assert handles[0].result_run_id == handles[1].result_run_id
        assert await handles[0].result() == "DELIVERED_EMAIL"
    assert len(s.published) == 1


async def test_no_time_to_send_is_a_visible_state_that_plans_again_not_a_failure(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env

    class Blocked(StandIns):
        fixed = False

        @activity.defn(name="notify.plan")
        async def plan(self, inp: PlanInput) -> PlanResult:
            if not self.fixed:
                why = "no time to send: quiet hours, night cover the whole day"
                return PlanResult(inp.now, why, None, problem=why)
            return await super().plan(inp)

    s = Blocked(env, Member(preferred_day=1), "2026-10")  # due at once when it can be planned
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue, "2026-10")
        for _ in range(100):
            state = await handle.query(BillNotificationWorkflow.current)
            if state.status == "NO_SEND_WINDOW":
                break
            await asyncio.sleep(0.1)
        assert state.status == "NO_SEND_WINDOW" and "cover the whole day" in state.why
        await env.sleep(3 * 24 * 3600)  # it plans again daily, and stays visible meanwhile
        desc = await handle.describe()
        assert desc.status is not None and desc.status.name == "RUNNING"
        s.fixed = True  # the member changes their quiet hours
        await handle.signal(BillNotificationWorkflow.preferences_changed)
        assert await handle.result() == "DELIVERED_EMAIL"
    assert len(s.published) == 1
