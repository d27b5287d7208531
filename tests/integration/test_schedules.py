"""`telebill schedules install` creates, then updates, the Schedules as declared state (an
operator's pause and note kept, the policies set); `schedules status` shows their runs; a
Schedule's run caught up late settles the month it was meant for (a real backfill)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleBackfill,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.worker import Worker

from telebill.config import Settings
from telebill.domain.month import previous_month
from telebill.service.schedules import (
    DISPATCH_SCHEDULE_ID,
    RETENTION_SCHEDULE_ID,
    SCHEDULE_ID,
    ScheduleView,
    policies,
    view,
)
from telebill.temporal_gateway import TemporalGateway
from tests.helpers import run_cli
from tests.workflows.record_histories import StandIns
from workflows.settlement import (
    MonthlySettlementWorkflow,
    ScheduledSettlementInput,
    ScheduledSettlementWorkflow,
    SettlementInput,
    SettlementShardWorkflow,
)


async def test_install_creates_or_updates_the_schedule(settings: Settings) -> None:
    first = run_cli("schedules", "install", "--at", "03:30", "--time-zone", "Asia/Tokyo")
    assert first.returncode == 0, first.stderr
    assert SCHEDULE_ID in first.stdout
    client = await Client.connect(settings.temporal_target)
    described = await client.get_schedule_handle(SCHEDULE_ID).describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == "Asia/Tokyo"
    [calendar] = spec.calendars
    assert [r.start for r in calendar.day_of_month] == [1]
    assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([3], [30])

    again = run_cli("schedules", "install")  # back to the defaults: 02:00 Asia/Seoul
    assert again.returncode == 0, again.stderr
    assert "updated" in again.stdout
    spec = (await client.get_schedule_handle(SCHEDULE_ID).describe()).schedule.spec
    assert spec.time_zone_name == "Asia/Seoul"
    assert [r.start for r in spec.calendars[0].hour] == [2]
    daily = (await client.get_schedule_handle(DISPATCH_SCHEDULE_ID).describe()).schedule
    assert [r.start for r in daily.spec.calendars[0].hour] == [9]
    assert daily.spec.calendars[0].day_of_month[0].end == 31  # every day
    kept = (await client.get_schedule_handle(RETENTION_SCHEDULE_ID).describe()).schedule
    [calendar] = kept.spec.calendars
    assert [r.start for r in calendar.day_of_month] == [2]  # the day after the settlement
    assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([3], [0])
    assert kept.spec.time_zone_name == "Asia/Seoul"


def test_bad_time_or_zone_is_refused_in_one_line() -> None:
    for args, message in (
        (["--at", "25:00"], "--at must be HH:MM"),
        (["--dispatch-at", "9:00"], "--dispatch-at must be HH:MM"),
        (["--time-zone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
    ):
        result = run_cli("schedules", "install", *args)
        assert result.returncode != 0
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_report_of_a_month_never_settled_says_so() -> None:
    result = run_cli("report", "--month", "1999-01")
    assert result.returncode != 0
    assert "1999-01 has not been settled" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_install_again_keeps_a_paused_schedule_paused_with_its_note(
    settings: Settings,
) -> None:
    assert run_cli("schedules", "install").returncode == 0
    client = await Client.connect(settings.temporal_target)
    daily = client.get_schedule_handle(DISPATCH_SCHEDULE_ID)
    note = f"provider maintenance {uuid.uuid4().hex[:6]}"
    await daily.pause(note=note)
    try:
        again = run_cli("schedules", "install", "--dispatch-at", "08:30")
        assert again.returncode == 0, again.stderr
        assert "updated (kept paused)" in again.stdout
        described = (await daily.describe()).schedule
        assert (described.state.paused, described.state.note) == (True, note)
        assert [r.start for r in described.spec.calendars[0].minute] == [30]  # the spec changed
        shown = run_cli("schedules", "status")
        assert shown.returncode == 0, shown.stderr
        assert f"{DISPATCH_SCHEDULE_ID}: paused ({note})" in shown.stdout
    finally:
        await daily.unpause(note="unpaused by the test")
        assert run_cli("schedules", "install").returncode == 0  # back to the defaults


async def test_each_schedule_has_its_declared_policies(settings: Settings) -> None:
    assert run_cli("schedules", "install").returncode == 0
    client = await Client.connect(settings.temporal_target)
    declared = policies()
    assert declared[SCHEDULE_ID].overlap == ScheduleOverlapPolicy.BUFFER_ONE
    assert declared[SCHEDULE_ID].catchup_window == timedelta(days=7)
    assert declared[DISPATCH_SCHEDULE_ID].overlap == ScheduleOverlapPolicy.SKIP
    assert declared[DISPATCH_SCHEDULE_ID].catchup_window == timedelta(days=1)
    for schedule_id, policy in declared.items():
        got = (await client.get_schedule_handle(schedule_id).describe()).schedule.policy
        assert (got.overlap, got.catchup_window, got.pause_on_failure) == (
            policy.overlap,
            policy.catchup_window,
            policy.pause_on_failure,
        ), schedule_id
    shown = json.loads(run_cli("schedules", "status", "--json").stdout)
    assert [v["schedule_id"] for v in shown] == [
        SCHEDULE_ID,
        DISPATCH_SCHEDULE_ID,
        RETENTION_SCHEDULE_ID,
    ]
    assert all(v["installed"] and len(v["next_runs"]) == 3 for v in shown)
    assert shown[1]["catchup_window_s"] == 86_400 and shown[1]["overlap"] == "SKIP"


async def until(
    what: Callable[[], Awaitable[ScheduleView]], done: Callable[[ScheduleView], bool]
) -> ScheduleView:
    """Polls a Schedule's view until `done` (bounded: 60 s)."""
    for _ in range(600):
        seen = await what()
        if done(seen):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached: {seen}")


async def test_a_run_caught_up_late_settles_its_month_and_status_shows_its_runs(
    settings: Settings,
) -> None:
    """A Schedule of the test's own with the real ScheduledSettlementWorkflow (stand-in
    activities on a queue of its own), backfilled for day 1 of a month long past: the run
    starts now and settles the month before the one it was meant for; its view shows the run,
    its outcome and the next runs."""
    client = await Client.connect(settings.temporal_target)
    queue = f"sched-{uuid.uuid4().hex[:8]}"
    schedule_id = f"test-settlement-{uuid.uuid4().hex[:6]}"
    meant = datetime(2001, 2, 28, 17, 0, tzinfo=UTC)  # 2001-03-01 02:00 in Seoul
    handle = await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                ScheduledSettlementWorkflow.run,
                ScheduledSettlementInput(settlement=SettlementInput(month="", notify=False)),
                id=schedule_id,
                task_queue=queue,
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        day_of_month=[ScheduleRange(1)],
                        hour=[ScheduleRange(2)],
                        minute=[ScheduleRange(0)],
                    )
                ],
                time_zone_name="Asia/Seoul",
            ),
            state=ScheduleState(paused=True, note="a test's; only its backfill runs"),
        ),
    )
    stand_ins = StandIns(client)
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[
                ScheduledSettlementWorkflow,
                MonthlySettlementWorkflow,
                SettlementShardWorkflow,
            ],
            activities=[
                stand_ins.open_settlement,
                stand_ins.settle_shard,
                stand_ins.close_settlement,
            ],
        ):
            await handle.backfill(
                ScheduleBackfill(meant - timedelta(minutes=1), meant + timedelta(minutes=1))
            )
            seen = await until(
                lambda: view(TemporalGateway(client, settings), schedule_id),
                lambda v: bool(v.last_runs) and v.last_runs[0].outcome == "COMPLETED",
            )
            [run] = seen.last_runs
            month = await client.get_workflow_handle(run.workflow_id).result()
    finally:
        await handle.delete()
    assert month == "2001-02" == previous_month(meant, "Asia/Seoul")
    assert run.scheduled_at == meant and run.started_at > meant + timedelta(days=365)
    assert seen.paused and seen.next_runs and seen.next_runs[0] > run.started_at
    assert seen.last_action_at == run.started_at and not seen.last_failed
