"""A month's notification workflows start delayed until their instants (version 4): nothing
runs on the server until then, Temporal UI shows when, a waiting one is woken by the
operator's commands (Signal-With-Start), and a due one takes a single workflow task."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from telebill.clock import offset_to
from telebill.config import Settings
from telebill.contracts.notification import notify_input
from telebill.service.schedules import DISPATCH_SCHEDULE_ID
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, NotifyStack, prepare, running
from workflows.dispatch import DispatchInput, DispatchWorkflow
from workflows.notification import NOTIFY_STATUS, SEND_AT

SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=SEOUL)  # day 3 of the send month
TELEBILL = str(Path(sys.executable).parent / "telebill")


async def cli(stack: NotifyStack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [TELEBILL, *args], env=stack.env() | env, capture_output=True, text=True
    )


async def events(client: Client, wid: str) -> list[int]:
    history = await client.get_workflow_handle(wid).fetch_history()
    return [e.event_type for e in history.events]


async def delivered(stack: NotifyStack, members: list[int], within: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        n = await stack.conn.fetchval(
            "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
            "WHERE b.member_id = ANY($1::bigint[]) AND n.status = 'DELIVERED_EMAIL'",
            members,
        )
        if n == len(members):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{n} of {members} delivered"
        await asyncio.sleep(0.3)


async def test_workflows_wait_as_delayed_starts_and_wake_when_told(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 6, pretend=NOW)
    # a horizon past the 20th: every bill's workflow is started now, delayed (see below for
    # the default, which starts them near their day)
    stack.settings = stack.settings.model_copy(update={"notify_start_horizon_h": 24 * 30})
    # 1 is due today; 2–6 on the 20th, Seoul, no quiet hours (a plain instant to compare)
    await stack.conn.execute(
        "UPDATE member SET preferred_day = CASE WHEN id = 1 THEN 3 ELSE 20 END, "
        "timezone = 'Asia/Seoul', quiet_start = NULL, quiet_end = NULL"
    )
    await stack.conn.execute("DELETE FROM blackout_window")
    client = stack.client
    s = stack.settings
    async with running(stack):
        # settled without Temporal (as after an outage): the catch-up dispatch starts them all
        from telebill.db.settlement_store import load_products, settle_chunk
        from telebill.domain.month import parse_month

        await settle_chunk(
            stack.conn,
            parse_month(MONTH),
            "s",
            1,
            6,
            await load_products(stack.conn, parse_month(MONTH)),
        )
        result = await client.execute_workflow(
            DispatchWorkflow.run,
            DispatchInput(month=MONTH),
            id=f"{s.workflow_id_prefix}dispatch-{MONTH}",
            task_queue=s.dispatch_task_queue,
        )
        assert result.started == 6
        await delivered(stack, [1])
        # the due one: one workflow task, the plan a local activity (a marker), no activity task
        # and no timer; when the outcome took longer than the local activity waits (a cold
        # consumer), one more task for the reporter's signal, and PUBLISHED shown meanwhile
        await client.get_workflow_handle(stack.workflow_id(1)).result()
        due = await events(client, stack.workflow_id(1))
        signalled = due.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
        assert signalled <= 1, due
        assert due.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1 + signalled, due
        assert due.count(EventType.EVENT_TYPE_MARKER_RECORDED) == 1, due
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in due
        assert EventType.EVENT_TYPE_TIMER_STARTED not in due
        upserts = due.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
        assert upserts == 1 + signalled, due
        # the waiting ones: started, nothing else, until the 20th; UI shows when
        planned = {
            r["member_id"]: r["send_at"]
            for r in await stack.conn.fetch(
                "SELECT b.member_id, n.send_at FROM notification n JOIN bill b ON b.id = n.bill_id"
            )
        }
        assert planned[2] == datetime(2026, 12, 20, tzinfo=SEOUL)
        for member in range(2, 7):
            wid = stack.workflow_id(member)
            assert await events(client, wid) == [EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
            shown = (await client.get_workflow_handle(wid).describe()).typed_search_attributes
            assert shown.get(NOTIFY_STATUS) == "SCHEDULED"
            assert shown.get(SEND_AT) == planned[member]
        # a preference change wakes member 2's delayed start: due today now, sent at once
        moved = await cli(stack, "member", "update", "--member", "2", "--preferred-day", "3")
        assert moved.returncode == 0, moved.stderr
        assert "1 waiting notification(s) re-planned" in " ".join(moved.stdout.split())
        await delivered(stack, [1, 2])
        # a plain signal would not wake a delayed start; nothing else has run
        assert await events(client, stack.workflow_id(3)) == [
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        ]
        # the installation's clock moves past the 20th: `notify replan` wakes the rest
        later = str(offset_to(datetime(2026, 12, 21, 10, 0, tzinfo=SEOUL)))
        replanned = await cli(
            stack, "notify", "replan", "--month", MONTH, TELEBILL_CLOCK_OFFSET_S=later
        )
        assert replanned.returncode == 0, replanned.stderr
        assert "4 waiting notification(s)" in " ".join(replanned.stdout.split())
        await delivered(stack, [1, 2, 3, 4, 5, 6])
    await stack.conn.close()


async def workflow_ids(stack: NotifyStack) -> dict[int, str | None]:
    rows = await stack.conn.fetch(
        "SELECT b.member_id, n.workflow_id FROM notification n JOIN bill b ON b.id = n.bill_id"
    )
    return {r["member_id"]: r["workflow_id"] for r in rows}


async def exists(client: Client, wid: str) -> bool:
    try:
        await client.get_workflow_handle(wid).describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND, exc
        return False
    return True


async def test_a_month_is_planned_and_each_bill_started_near_its_day(
    databases: Databases, settings: Settings
) -> None:
    """The default horizon (36 h): the month's dispatch plans every bill in PostgreSQL and
    starts only the workflows of bills due before it; the daily dispatch starts the others as
    their day comes near; a preference change starts a planned one at once. A page whose
    workflows were started but whose plans were not recorded (the activity retried after a
    crash) gets its rows on the next run."""
    stack = await prepare(databases, settings, 6, pretend=NOW)
    assert stack.settings.notify_start_horizon_h == 36
    # 1 due today (the 3rd), 2 tomorrow, 3–6 on the 20th; Seoul, no quiet hours
    await stack.conn.execute(
        "UPDATE member SET preferred_day = CASE id WHEN 1 THEN 3 WHEN 2 THEN 4 ELSE 20 END, "
        "timezone = 'Asia/Seoul', quiet_start = NULL, quiet_end = NULL"
    )
    await stack.conn.execute("DELETE FROM blackout_window")
    client, s = stack.client, stack.settings
    from telebill.db.settlement_store import load_products, settle_chunk
    from telebill.domain.month import parse_month

    month = parse_month(MONTH)
    await settle_chunk(stack.conn, month, "s", 1, 6, await load_products(stack.conn, month))

    async def dispatch(name: str) -> int:
        result = await client.execute_workflow(
            DispatchWorkflow.run,
            DispatchInput(month=MONTH),
            id=f"{s.workflow_id_prefix}dispatch-{MONTH}-{name}",
            task_queue=s.dispatch_task_queue,
        )
        return result.started

    def clock_at(at: datetime) -> None:  # the worker started after it, and the CLI, use it
        stack.settings = stack.settings.model_copy(update={"clock_offset_s": offset_to(at)})

    async with running(stack):
        assert await dispatch("month") == 2
        await delivered(stack, [1])
    wids = await workflow_ids(stack)
    assert wids[1] == stack.workflow_id(1) and wids[2] == stack.workflow_id(2)
    assert [wids[m] for m in range(3, 7)] == [None] * 4, wids
    assert await exists(client, stack.workflow_id(2))
    assert not await exists(client, stack.workflow_id(3))
    shown = await cli(stack, "status", "--month", MONTH, "--json")
    db = json.loads(shown.stdout)["postgresql"]
    assert (db["scheduled"], db["workflow_later"], db["not_scheduled"]) == (5, 4, 0), db
    await said_whether_the_daily_dispatch_runs(stack)
    clock_at(datetime(2026, 12, 4, 9, 0, tzinfo=SEOUL))
    async with running(stack):
        # nothing new near: the next day's run starts nothing
        assert await dispatch("day-4") == 0
        # member 3 moves to the 4th: its planned bill's workflow starts at once, by the new day
        moved = await cli(stack, "member", "update", "--member", "3", "--preferred-day", "4")
        assert moved.returncode == 0, moved.stderr
        assert "1 waiting notification(s) re-planned" in " ".join(moved.stdout.split())
        await delivered(stack, [1, 3])
    assert (await workflow_ids(stack))[3] == stack.workflow_id(3)
    # a crash after a page's starts, before its record: member 4's workflow runs, its row is lost
    await stack.conn.execute(
        "DELETE FROM notification WHERE bill_id = (SELECT id FROM bill WHERE member_id = 4)"
    )
    await client.start_workflow(
        "BillNotificationWorkflow",
        notify_input(s, await bill_of(stack, 4), 4, MONTH),
        id=stack.workflow_id(4),
        task_queue=s.task_queue,
        start_delay=timedelta(days=10),
    )
    # the 19th, 09:00: the 20th's bills are near; 5 and 6 start delayed, 4's row is back
    clock_at(datetime(2026, 12, 19, 9, 0, tzinfo=SEOUL))
    async with running(stack):
        assert await dispatch("day-19") == 2
    wids = await workflow_ids(stack)
    assert [wids[m] for m in (4, 5, 6)] == [stack.workflow_id(m) for m in (4, 5, 6)], wids
    for member in (5, 6):
        assert await events(client, stack.workflow_id(member)) == [
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
        ]
    await stack.conn.close()


async def said_whether_the_daily_dispatch_runs(stack: NotifyStack) -> None:
    """Planned-only bills need the daily dispatch Schedule: `status` warns while it is missing
    or paused, and not once it runs."""

    async def warnings() -> tuple[bool, list[str]]:
        shown = await cli(stack, "status", "--month", MONTH, "--json")
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        return view["daily_dispatch"], view["warnings"]

    schedule = stack.client.get_schedule_handle(DISPATCH_SCHEDULE_ID)
    with contextlib.suppress(RPCError):  # another test may have installed it
        await schedule.delete()
    running_, said = await warnings()
    assert running_ is False and len(said) == 1, said
    assert "4 bill(s) are planned" in said[0] and "telebill schedules install" in said[0]
    installed = await cli(stack, "schedules", "install")
    assert installed.returncode == 0, installed.stderr
    assert await warnings() == (True, [])
    await schedule.pause()
    assert (await warnings())[0] is False
    table = await cli(stack, "status", "--month", MONTH)
    assert "warning: 4 bill(s) are planned" in " ".join(table.stdout.split()), table.stdout
    await schedule.delete()  # removed again: it would fire daily into the other tests


async def bill_of(stack: NotifyStack, member: int) -> int:
    bill: int = await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = $1", member)
    return bill
