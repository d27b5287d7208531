"""The worker's bridge gauges against the real services: the overdue bills' query on a test
database, as the worker's own database role (a grant missing from telebill/db/roles.py fails
it), by the code's clock rather than the real date; and the Schedules' gauges on the dev server
right after an operator pauses one. The alerts written on these are tested with promtool
(tests/unit/test_deploy_monitoring.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import REGISTRY
from temporalio.client import Client

from telebill import clock
from telebill.config import Settings
from telebill.db.overdue_store import Overdue, overdue_notifications
from telebill.domain.db_roles import DbRole
from telebill.service.schedules import DISPATCH_SCHEDULE_ID, SCHEDULE_ID
from tests.helpers import run_cli
from tests.integration.conftest import Databases
from tests.integration.test_api import settled
from workers.temporal_worker import create_pool, refresh_bridge_gauges, refresh_schedule_gauges

# The code's clock runs this far ahead of the real one (TELEBILL_CLOCK_OFFSET_S, as in a staging
# rehearsal): every row below is in the real date's future, so a count by the database's
# now() or the real date would find none of them overdue.
AHEAD = timedelta(days=40)


def gauge(name: str, labels: dict[str, str] | None = None) -> float:
    found = REGISTRY.get_sample_value(name, labels or {})
    assert found is not None, name
    return found


async def notification(
    conn: asyncpg.Connection,
    member: int,
    send_at: datetime | None,
    *,
    workflow: bool = False,
    status: str = "PENDING",
) -> int:
    """A member's bill's monthly notification as planned (and, with `workflow`, started and
    published) at `send_at`; its bill's id."""
    bill: int = await conn.fetchval("SELECT id FROM bill WHERE member_id = $1", member)
    await conn.execute(
        "INSERT INTO notification (billing_month, bill_id, status, send_at, workflow_id,"
        " published_at, plan_problem) SELECT billing_month, id, $2, $3, $4, $5, $6 FROM bill"
        " WHERE id = $1",
        bill,
        status,
        send_at,
        f"notify-{member}" if workflow else None,
        send_at if workflow else None,
        None if send_at else "NO_SEND_WINDOW",
    )
    return bill


async def test_overdue_bills_are_counted_by_reason_as_the_worker(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    s = stack.settings.model_copy(update={"clock_offset_s": AHEAD.total_seconds()})
    now = clock.now(s)
    grace = timedelta(seconds=s.overdue_grace_s)
    outcome_grace = timedelta(seconds=s.notify_stuck_after_s)
    conn = stack.conn
    # planned, its instant past the grace, never started: no_workflow
    await notification(conn, 1, now - grace - timedelta(hours=2))
    # started and published, past the grace and the STUCK time, no outcome: no_outcome, and
    # the oldest of those counted
    oldest = now - grace - outcome_grace - timedelta(hours=5)
    await notification(conn, 2, oldest, workflow=True)
    # held by a send window (its event waits in deferred_event for its own due instant): not
    # counted, though older than every other
    held = await notification(conn, 3, now - timedelta(days=10), workflow=True)
    await conn.execute(
        "INSERT INTO deferred_event (bill_id, purpose, topic, event, due_at, reason) "
        "VALUES ($1, 'MONTHLY_BILL', 'notify.email', $2::jsonb, $3, 'quiet_hours')",
        held,
        json.dumps({"bill_id": held}),
        now + timedelta(hours=1),
    )
    # delivered long ago: not counted
    await notification(conn, 4, now - timedelta(days=20), workflow=True, status="DELIVERED_EMAIL")
    # not overdue yet: within the grace without a workflow, within the STUCK time after it
    # with one, planned for tomorrow, and no allowed instant at all (`telebill status` says so)
    await notification(conn, 5, now - grace / 2)
    await notification(conn, 6, now - grace - outcome_grace / 2, workflow=True)
    await notification(conn, 7, now + timedelta(days=1))
    await notification(conn, 8, None)

    pool = await create_pool(s, DbRole.WORKER)
    try:
        async with pool.acquire() as worker:
            found = await overdue_notifications(worker, now, grace, outcome_grace)
            by_real_date = await overdue_notifications(
                worker, datetime.now(UTC), grace, outcome_grace
            )
        expected_age = (grace + outcome_grace + timedelta(hours=5)).total_seconds()
        assert found == Overdue(1, 1, oldest, expected_age)
        assert by_real_date == Overdue(0, 0, None, 0.0)  # `now` decides, not the database

        await refresh_bridge_gauges(stack.client, pool, s)
    finally:
        await pool.close()
    assert gauge("telebill_notifications_overdue", {"reason": "no_workflow"}) == 1
    assert gauge("telebill_notifications_overdue", {"reason": "no_outcome"}) == 1
    # measured by the worker's clock a moment after `now`
    age = gauge("telebill_notifications_overdue_oldest_seconds")
    assert expected_age <= age < expected_age + 120, age
    await conn.close()


async def test_the_schedule_gauges_read_installed_and_paused_right_after_a_pause(
    settings: Settings,
) -> None:
    installed = run_cli("schedules", "install")
    assert installed.returncode == 0, installed.stderr
    client = await Client.connect(settings.temporal_target)
    settlement = client.get_schedule_handle(SCHEDULE_ID)
    await settlement.pause(note=f"gauge test {uuid.uuid4().hex[:6]}")
    try:
        await refresh_schedule_gauges(client, settings)
        dispatch = (await client.get_schedule_handle(DISPATCH_SCHEDULE_ID).describe()).schedule
        for schedule_id in (SCHEDULE_ID, DISPATCH_SCHEDULE_ID):
            assert gauge("telebill_schedule_installed", {"schedule": schedule_id}) == 1
            assert (
                gauge("telebill_schedule_last_action_timestamp_seconds", {"schedule": schedule_id})
                > 0
            )
        assert gauge("telebill_schedule_paused", {"schedule": SCHEDULE_ID}) == 1
        # the other as Temporal has it (the test does not touch it; someone else may)
        assert gauge("telebill_schedule_paused", {"schedule": DISPATCH_SCHEDULE_ID}) == int(
            dispatch.state.paused
        )
    finally:
        await settlement.unpause(note="unpaused by the gauge test")
    await refresh_schedule_gauges(client, settings)
    assert gauge("telebill_schedule_paused", {"schedule": SCHEDULE_ID}) == 0
