"""BillNotificationWorkflow on the time-skipping server: it sleeps until the member's send instant
(weeks, if need be), honours quiet hours, clamps day 31 in February, re-plans on a signal, marks
itself STUCK without an outcome, and a second start is a no-op. The activities are stand-ins
around the real pure planner (the real ones run against PostgreSQL and Kafka in
tests/integration). The time-skipping server cannot register search attributes, so they are off
here; the end-to-end test checks them on the dev server.

Every expectation is computed from the server's own clock (which starts at TELEBILL_TEST_NOW, or
the real time): the billing month is the one the server's "now" falls in, so its bills go out
next month, all of it still ahead."""

from __future__ import annotations

import asyncio
import calendar
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notification import OutcomeQuery, PlanInput, PlanResult
from telebill.domain.month import months_before, parse_month
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
        return PlanResult(
            send_at=p.send_at.isoformat(), why=p.explain(), status=None, published=due
        )

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


def billing_month(instant: datetime) -> str:
    """The month `instant` falls in (Asia/Seoul): its bills are sent in the month after."""
    return f"{instant.astimezone(SEOUL):%Y-%m}"


def send_day(month: str, day: int, zone: str = "Asia/Seoul", at: time = time(0)) -> datetime:
    """`day` of the month after `month` (its last day if shorter) at `at`, local time."""
    first = parse_month(month)
    year, number = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    last = calendar.monthrange(year, number)[1]
    return datetime.combine(date(year, number, min(day, last)), at, ZoneInfo(zone))


async def start(
    client: Client, queue: str, month: str, stuck_after_s: float = 3600
) -> WorkflowHandle[BillNotificationWorkflow, str]:
    return await client.start_workflow(
        BillNotificationWorkflow.run,
        NotifyInput(
            bill_id=1,
            member_id=7,
            month=month,
            stuck_after_s=stuck_after_s,
            search_attributes=False,
        ),
        id=f"notify-{month}-7-{uuid.uuid4().hex[:6]}",
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def run(env: WorkflowEnvironment, s: StandIns) -> str:
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        return await (await start(env.client, queue, s.month)).result()


def a_month_already_due(instant: datetime) -> str:
    """The month before last: its bills went out last month, so they are due at once."""
    return months_before(instant, "Asia/Seoul", 2)[1]


def local(dt: datetime, zone: str = "Asia/Seoul") -> datetime:
    return dt.astimezone(ZoneInfo(zone))


async def test_a_preferred_day_weeks_away_is_sent_then_and_not_before(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    started = await env.get_current_time()
    month = billing_month(started)
    s = StandIns(env, Member(preferred_day=20), month)
    expected = send_day(month, 20)
    assert started < expected - timedelta(days=7), "the send should be weeks away"
    assert await run(env, s) == "DELIVERED_EMAIL"
    assert len(s.published) == 1
    assert expected <= s.published[0] < expected + timedelta(minutes=1)


async def test_quiet_hours_over_the_preferred_morning_send_it_when_they_end(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    month = billing_month(await env.get_current_time())
    s = StandIns(env, Member(preferred_day=15, quiet=(time(22, 0), time(9, 30))), month)
    await run(env, s)
    expected = send_day(month, 15, at=time(9, 30))
    assert expected <= s.published[0] < expected + timedelta(minutes=1)


@pytest.mark.parametrize("leap", [False, True], ids=["next-february", "next-leap-february"])
async def test_day_31_in_february_is_its_last_day(
    own_clock_env: WorkflowEnvironment, leap: bool
) -> None:
    """The next February still ahead (the 28th or the 29th), and the next of a leap year.
    (A server of its own for each: once a workflow completes, the time-skipping server skips
    years ahead.)"""
    env = own_clock_env
    started = await env.get_current_time()
    year = started.astimezone(SEOUL).year
    while datetime(year, 2, 1, tzinfo=SEOUL) <= started or (leap and not calendar.isleap(year)):
        year += 1
    s = StandIns(env, Member(preferred_day=31), f"{year}-01")
    await run(env, s)
    last = 29 if calendar.isleap(year) else 28
    assert local(s.published[0]).date() == date(year, 2, last)


async def test_a_preference_change_during_the_sleep_moves_the_send(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    month = billing_month(await env.get_current_time())
    s = StandIns(env, Member(preferred_day=25, zone="Europe/Berlin"), month)
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue, month)
        for _ in range(100):  # queries do not advance the clock; result() would
            if (await handle.query(BillNotificationWorkflow.current)).status == "SCHEDULED":
                break
            await asyncio.sleep(0.1)
        s.member = Member(preferred_day=3, zone="Europe/Berlin")  # saved by `member update`
        await handle.signal(BillNotificationWorkflow.preferences_changed)
        assert await handle.result() == "DELIVERED_EMAIL"
    expected = send_day(month, 3, "Europe/Berlin")
    assert expected <= s.published[0] < expected + timedelta(minutes=1)


async def test_a_clock_moved_past_the_send_instant_sends_at_once_when_told(
    own_clock_env: WorkflowEnvironment,
) -> None:
    """`telebill notify replan` after TELEBILL_CLOCK_OFFSET_S moved: the sleeping workflow
    takes the installation's new clock and finds its instant passed."""
    env = own_clock_env
    month = billing_month(await env.get_current_time())
    s = StandIns(env, Member(preferred_day=20), month)
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue, month)
        for _ in range(100):
            if (await handle.query(BillNotificationWorkflow.current)).status == "SCHEDULED":
                break
            await asyncio.sleep(0.1)
        started = await env.get_current_time()
        jump = (send_day(month, 20, at=time(9)) - started).total_seconds()
        await handle.signal(BillNotificationWorkflow.replan_now, jump)
        assert await handle.result() == "DELIVERED_EMAIL"
    assert len(s.published) == 1
    assert s.published[0] - started < timedelta(minutes=1), "it slept on by the old clock"


async def test_no_outcome_marks_it_stuck_and_it_keeps_waiting(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env = own_clock_env
    month = a_month_already_due(await env.get_current_time())
    s = StandIns(env, Member(preferred_day=1), month, report=False)
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue, month, stuck_after_s=600)
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
    month = billing_month(await env.get_current_time())
    s = StandIns(env, Member(preferred_day=10), month)
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        wid = f"notify-{month}-7-{uuid.uuid4().hex[:6]}"
        handles = [
            await env.client.start_workflow(
                BillNotificationWorkflow.run,
                NotifyInput(bill_id=1, member_id=7, month=month, search_attributes=False),
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
                return PlanResult(send_at=inp.now, why=why, status=None, problem=why)
            return await super().plan(inp)

    month = a_month_already_due(await env.get_current_time())
    s = Blocked(env, Member(preferred_day=1), month)  # due at once when it can be planned
    queue = f"notify-{uuid.uuid4().hex[:8]}"
    async with s.worker(queue):
        handle = await start(env.client, queue, month)
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
