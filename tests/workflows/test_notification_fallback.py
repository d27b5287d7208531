"""The local plan-and-publish knows when to stop (issue 32 item 5a): during a Kafka outage it
gives up after its bound (3 attempts, or LOCAL_BOUND for one that hangs), the workflow goes on
with the same work as a regular activity retried without limit, the worker's workflow task
slots go on serving the workflows whose publish works, and when Kafka is back the bill is
published once. On the time-skipping server with stand-in activities (the real ones, against
a Kafka without the topic, in tests/integration/test_notify_fallback.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notification import PlanInput, PlanResult
from telebill.contracts.notification import LEAN
from workflows.notification import (
    LOCAL_BOUND,
    LOCAL_FALLBACK_PATCH,
    LOCAL_RETRY,
    BillNotificationWorkflow,
    NotifyInput,
)

FAILS_FAST = 1  # the broker refuses connections: each attempt fails at once
HANGS = 2  # the send waits for a partition leader that does not come
WORKS = 3  # its publish works (its channel's topic is there)


@dataclass
class Outage:
    kafka_up: bool = False
    local: dict[int, int] = field(default_factory=dict)  # local attempts by member
    regular: dict[int, int] = field(default_factory=dict)  # regular attempts by member
    published: dict[int, int] = field(default_factory=dict)
    fell_back: dict[int, asyncio.Event] = field(default_factory=dict)
    local_began: dict[int, float] = field(default_factory=dict)
    fell_back_at: dict[int, float] = field(default_factory=dict)

    @activity.defn(name="notify.plan")
    async def plan(self, inp: PlanInput) -> PlanResult:
        member, info = inp.member_id, activity.info()
        now = asyncio.get_running_loop().time()
        if info.is_local:
            assert inp.local
            self.local[member] = self.local.get(member, 0) + 1
            self.local_began.setdefault(member, now)
        else:
            assert not inp.local, "the regular activity may wait the longer outcome wait"
            assert info.heartbeat_timeout is not None, "a dead worker's attempt moves on"
            self.regular[member] = self.regular.get(member, 0) + 1
            self.fell_back_at.setdefault(member, now)
            self.fell_back.setdefault(member, asyncio.Event()).set()
        if member != WORKS and not self.kafka_up:
            if member == HANGS:
                await asyncio.Event().wait()  # until the bound cancels it
            raise ApplicationError("KafkaConnectionError: Unable to bootstrap")
        self.published[member] = self.published.get(member, 0) + 1
        return PlanResult(
            send_at=inp.now, why="due", status=None, published=True, outcome="DELIVERED_EMAIL"
        )

    async def waited_out(self, member: int) -> None:
        await self.fell_back.setdefault(member, asyncio.Event()).wait()


async def start(client: Client, queue: str, member: int) -> WorkflowHandle[Any, str]:
    return await client.start_workflow(
        BillNotificationWorkflow.run,
        NotifyInput(
            bill_id=member, member_id=member, month="2026-11", search_attributes=False, version=LEAN
        ),
        id=f"fallback-{uuid.uuid4().hex[:8]}-{member}",
        task_queue=queue,
    )


async def test_the_local_plan_gives_up_at_its_bound_and_the_outage_is_waited_out_elsewhere(
    own_clock_env: WorkflowEnvironment,
) -> None:
    env, outage = own_clock_env, Outage()
    queue = f"fallback-{uuid.uuid4().hex[:8]}"
    # Two workflow task slots: with the local activity retrying without end (the code before),
    # the two workflows in the outage held both, and the third never got a task.
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[BillNotificationWorkflow],
        activities=[outage.plan],
        max_concurrent_workflow_tasks=2,
    ):
        refused, hung = (
            await start(env.client, queue, FAILS_FAST),
            await start(env.client, queue, HANGS),
        )
        async with asyncio.timeout(60):
            await outage.waited_out(FAILS_FAST)
            await outage.waited_out(HANGS)
        assert outage.local[FAILS_FAST] == LOCAL_RETRY.maximum_attempts
        held = outage.fell_back_at[HANGS] - outage.local_began[HANGS]
        bound = LOCAL_BOUND.total_seconds()
        assert bound - 0.5 <= held < bound + 5, f"the hanging local plan held its task {held} s"
        assert outage.local[HANGS] == 1  # the bound cut its only attempt
        # Both wait out the outage in activity retries; the worker serves another meanwhile.
        served = await start(env.client, queue, WORKS)
        async with asyncio.timeout(30):
            assert await served.result() == "DELIVERED_EMAIL"
        for waiting in (refused, hung):
            assert (await waiting.describe()).status == WorkflowExecutionStatus.RUNNING
        assert not outage.published.get(FAILS_FAST) and not outage.published.get(HANGS)
        outage.kafka_up = True
        async with asyncio.timeout(120):
            assert await refused.result() == "DELIVERED_EMAIL"
            assert await hung.result() == "DELIVERED_EMAIL"
    assert outage.published == {FAILS_FAST: 1, HANGS: 1, WORKS: 1}
    assert outage.regular[FAILS_FAST] >= 1 and WORKS not in outage.regular
    events = (await refused.fetch_history()).events
    markers = [
        e.marker_recorded_event_attributes
        for e in events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert [m.marker_name for m in markers] == ["core_local_activity", "core_patch"]
    patch = b"".join(p.data for d in markers[1].details.values() for p in d.payloads)
    assert LOCAL_FALLBACK_PATCH.encode() in patch
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["notify.plan"]
    # the workflow whose publish worked: one task, one marker, no patch, no activity task
    served_events = (await served.fetch_history()).events
    assert not any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in served_events
    )
    assert sum(e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED for e in served_events) == 1
