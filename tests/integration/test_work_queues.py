"""Settlement, dispatch and notifications on task queues of their own: a month's settlement is
not held up by a backlog of notification tasks, and `settle --with-worker` takes only the
settlement's work and exits when it is done (its dispatch waits for a worker of its own)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from telebill.config import Settings
from tests.helpers import run_cli
from tests.integration.conftest import Databases
from tests.integration.test_settlement import NOV, seeded_env
from workflows.notification import BillNotificationWorkflow, NotifyInput

pytestmark = pytest.mark.integration
BACKLOG = 300


async def test_a_settlement_is_not_held_up_by_a_notification_backlog(
    databases: Databases, settings: Settings
) -> None:
    env = await seeded_env(databases, settings, 500)
    s = settings.beside(env.task_queue, env.db_url)
    client: Client = env.client
    # A backlog on the notification queue that no worker serves.
    waiting = [
        await client.start_workflow(
            BillNotificationWorkflow.run,
            NotifyInput(bill_id=n, member_id=n, month=NOV, search_attributes=False),
            id=f"{s.workflow_id_prefix}backlog-{n}",
            task_queue=s.task_queue,
        )
        for n in range(1, BACKLOG + 1)
    ]
    try:
        done = await asyncio.to_thread(
            run_cli, "settle", "--month", NOV, "--with-worker", env=s.process_env(), timeout=240
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert await env.conn.fetchval("SELECT count(*) FROM bill") > 0
        shown = await asyncio.to_thread(
            run_cli, "report", "--month", NOV, "--json", env=s.process_env()
        )
        assert shown.returncode == 0, shown.stderr
        amounts = json.loads(shown.stdout)["amounts"]
        assert amounts["bills"] == 500 and 0 < amounts["median"] <= amounts["p99"]
        assert amounts["high_without_explanation"] == 0
        printed = await asyncio.to_thread(run_cli, "report", "--month", NOV, env=s.process_env())
        assert "Amounts due (청구 금액 분포)" in printed.stdout

        # The notification backlog is still untouched: no worker took a task of it.
        history = await waiting[0].fetch_history()
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED not in {
            e.event_type for e in history.events
        }
        # The settlement started its dispatch on the dispatch queue, where it waits for a worker.
        wid = f"{s.workflow_id_prefix}settlement-{NOV}/dispatch"
        dispatch = await client.get_workflow_handle(wid).describe()
        assert dispatch.task_queue == s.dispatch_task_queue
    finally:
        for handle in waiting:
            await handle.terminate("test over")
        await env.conn.close()


def test_a_worker_refuses_an_unknown_queue() -> None:
    result = run_cli("worker", "--queues", "settlement,billing")
    assert result.returncode != 0
    assert "unknown queue billing; choose from settlement, dispatch, notification" in (
        result.stdout + result.stderr
    )
    assert "Traceback" not in result.stderr


def test_queues_are_named_after_the_notification_queue(settings: Settings) -> None:
    s = settings.model_copy(update={"task_queue": f"q{uuid.uuid4().hex[:6]}"})
    assert (s.settlement_task_queue, s.dispatch_task_queue) == (
        f"{s.task_queue}-settlement",
        f"{s.task_queue}-dispatch",
    )
