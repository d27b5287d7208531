"""Every long-running process exits within TELEBILL_SHUTDOWN_TIMEOUT_S of SIGTERM, whatever it
has in flight, and what it had in flight is done by the next process, once.

The worker case is the one that hung a worker for good (issue 29): bills due at once whose
publish cannot finish (their Kafka topics are not there, as when Kafka is away) keep a local
activity retrying, and the Temporal SDK's shutdown waits for it without end."""

from __future__ import annotations

import asyncio
import signal
import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from telebill.clock import offset_to
from telebill.config import Settings
from telebill.domain.roles import Role
from telebill.stack.kafka_topics import ensure_topics
from tests.helpers import eventually, run_cli
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.consumer_processes import Output, members_in_group, spawn
from tests.integration.delivery_platform import Platform
from tests.integration.notify_stack import prepare
from tests.integration.test_consumer_processes import finish_in_process, publish_all
from tests.integration.test_metrics import start_worker
from tests.integration.test_settlement import NOV, seeded_env

pytestmark = pytest.mark.integration
SEOUL = ZoneInfo("Asia/Seoul")
SHUTDOWN_S = 5
# How long past its deadline a process may take to be gone (a loaded machine, a slow exit).
MARGIN_S = 30
FORCED = f"not stopped {SHUTDOWN_S:g} s after the signal, exits now"


async def published(client: Client, queue: str) -> int:
    query = f'TaskQueue = "{queue}" AND NotifyStatus = "PUBLISHED"'
    return (await client.count_workflows(query)).count


async def test_a_worker_whose_publishes_cannot_finish_stops_on_time_and_hands_them_back(
    databases: Databases, settings: Settings
) -> None:
    members = 12
    env = await seeded_env(databases, settings, members)
    # every bill due on the 1st, Seoul, no quiet hours; the clock on the 2nd at noon
    await env.conn.execute(
        "UPDATE member SET preferred_day = 1, timezone = 'Asia/Seoul', "
        "quiet_start = NULL, quiet_end = NULL"
    )
    pretend = datetime(2026, 12, 2, 12, 0, tzinfo=SEOUL)
    s = settings.beside(env.task_queue, env.db_url, clock_offset_s=offset_to(pretend))
    worker = start_worker(s, TELEBILL_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_S))
    output = Output(worker)
    try:
        settled = await asyncio.to_thread(
            run_cli, "settle", "--month", NOV, env=s.process_env(), timeout=240
        )
        assert settled.returncode == 0, settled.stdout + settled.stderr

        async def publishing() -> bool:  # aiokafka waits for the topic that is not there
            return "not found in cluster metadata" in "".join(output.lines)

        await eventually(publishing, "a publish to begin", within=120)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, SHUTDOWN_S + MARGIN_S)
    finally:
        worker.kill()
        output.thread.join(10)
    said = "".join(output.lines)
    assert code == 0, said[-3000:]
    assert FORCED in said, said[-3000:]
    # handed back: with the topics there, the next worker publishes every due bill
    await ensure_topics(s.kafka_servers, 3, s.topic_prefix)
    again = start_worker(s)
    again_output = Output(again)
    try:

        async def all_published() -> bool:
            return await published(env.client, s.task_queue) == members

        await eventually(all_published, "the next worker to publish every bill", within=120)
        again.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(again.wait, SHUTDOWN_S + MARGIN_S)
    finally:
        again.kill()
        again_output.thread.join(10)
        await env.conn.close()
    assert code == 0
    assert FORCED not in "".join(again_output.lines)  # nothing held it: an orderly stop
    bills = await env.client.count_workflows(
        f'TaskQueue = "{s.task_queue}" AND WorkflowType = "BillNotificationWorkflow"'
    )
    assert bills.count == members  # one workflow per bill, started once


async def test_a_consumer_whose_sends_hang_stops_on_time_and_each_bill_goes_out_once(
    platform: Platform,
) -> None:
    process = spawn(
        platform, "email", latency_s=3600.0, TELEBILL_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_S)
    )
    output = Output(process)
    try:
        await members_in_group(platform, "email", 1)
        bills = await publish_all(platform)
        accepted = "SELECT count(*) FROM provider_message WHERE channel = 'email'"

        async def in_flight() -> bool:  # the provider took them; its answer takes an hour
            return bool(await platform.conn.fetchval(accepted))

        await eventually(in_flight, "the provider to take an event", within=120)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(process.wait, SHUTDOWN_S + MARGIN_S)
    finally:
        process.kill()
        output.thread.join(10)
    said = "".join(output.lines)
    assert code == 0, said[-3000:]
    assert FORCED in said, said[-3000:]
    # nothing was recorded or committed: the next consumer takes every event, and the
    # provider refuses the keys it accepted before, so each member gets the bill once
    await finish_in_process(platform)
    rows = await platform.conn.fetch(
        "SELECT n.bill_id, count(*) FILTER (WHERE d.outcome IN ('SENT', 'DUPLICATE')) AS n "
        "FROM notification n JOIN delivery_attempt d ON d.notification_id = n.id GROUP BY 1"
    )
    assert {r["bill_id"]: r["n"] for r in rows} == {b: 1 for b in bills}
    twice = "SELECT count(*) FROM provider_message WHERE channel = 'email' AND refusals > 1"
    assert await platform.conn.fetchval(twice) == 0


async def test_the_api_stops_on_time_with_a_request_in_flight(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 3)
    async with api_server(
        stack, "shutdown", {"TELEBILL_SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_S)}
    ) as api:
        async with api.client(Role.VIEWER) as viewer:
            assert (await viewer.get("/api/health")).status_code == 200
        host, port = api.url.removeprefix("http://").split(":")
        # a client that sends its headers and never the body it announced
        with socket.create_connection((host, int(port))) as slow:
            slow.sendall(
                b"POST /api/templates/email/monthly_bill/preview HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
            api.process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(api.process.wait(), SHUTDOWN_S + MARGIN_S)
    await stack.conn.close()
    assert code == 0, api.log.read_text()[-3000:]


async def test_an_idle_worker_stops_at_once(databases: Databases, settings: Settings) -> None:
    env = await seeded_env(databases, settings, 1)
    s = settings.beside(env.task_queue, env.db_url)
    worker = start_worker(s)
    output = Output(worker)
    try:

        async def polling() -> bool:
            request = DescribeTaskQueueRequest(
                namespace=s.temporal_namespace,
                task_queue=TaskQueue(name=s.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
            found = await env.client.workflow_service.describe_task_queue(request)
            return bool(found.pollers)

        await eventually(polling, "the worker to poll its task queue", within=120)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, SHUTDOWN_S + MARGIN_S)
    finally:
        worker.kill()
        output.thread.join(10)
        await env.conn.close()
    assert code == 0
    assert "not stopped" not in "".join(output.lines)
