"""Records the histories the Replayer test replays:
`python -m tests.workflows.record_histories vN` against the running dev server (`telebill stack
up`), the names prefixed with the version (v1: before 2026-11-26's reservation patch; v2:
after it; v3: with the replan signal, before the settlement and dispatch had queues of their
own; v4: with the version-4 notification workflow, started delayed and planning in a local
activity; v5: notifications that continue as new at HISTORY_BOUND events, and dispatches that
name a stored member list; v6: a notification whose local plan gives up and goes on as a
regular activity; v7: the monthly retention). `… vN NAME …` records only the scenario named
(`notify_plan_fallback` or `retention`). Record a new version before changing a
workflow's commands, commit what it writes, then make the change behind `workflow.patched`;
the replay test keeps workflows already running (a million may be asleep) working after the
upgrade.

The activities are stand-ins: a history holds their results, not how they got them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.notification import (
    MonthScope,
    OutcomeQuery,
    PlanInput,
    PlanResult,
    ReservationRef,
    StartInput,
)
from telebill.config import Settings
from telebill.contracts.notification import LEAN, RESERVATION, SEND_LIST, MemberListRef
from telebill.contracts.retention import (
    ARCHIVE_DUE,
    RetentionInput,
    RetentionRequest,
    RetentionResult,
)
from telebill.contracts.settlement import (
    CloseInput,
    SettlementScope,
    SettlementSummary,
    ShardInput,
    ShardResult,
)
from telebill.messaging.outcome import OUTCOME_SIGNAL, DeliveryOutcome
from telebill.temporal_gateway import initial_search_attributes
from workflows.dispatch import DispatchInput, DispatchWorkflow, ScheduledDispatchWorkflow
from workflows.notification import BillNotificationWorkflow, NotifyInput
from workflows.retention import MonthlyRetentionWorkflow
from workflows.settlement import (
    MonthlySettlementWorkflow,
    ScheduledSettlementInput,
    ScheduledSettlementWorkflow,
    SettlementInput,
    SettlementShardWorkflow,
    settlement_id,
)

HERE = Path(__file__).parent / "histories"
WORKFLOWS = [
    BillNotificationWorkflow,
    DispatchWorkflow,
    ScheduledDispatchWorkflow,
    MonthlySettlementWorkflow,
    SettlementShardWorkflow,
    ScheduledSettlementWorkflow,
    MonthlyRetentionWorkflow,
]


class StandIns:
    """Plans by member id: 1 due with its outcome at once, 2 due with the outcome later (a
    signal), 3 in a week, 4 due and never told (STUCK until the database has it), 8 without
    an allowed instant, 9 STUCK until `long_stuck_status` (long enough to continue as new), 10
    due while Kafka is away for the local plan (its attempts spent), published by the regular
    activity after it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.stuck_status: str | None = None
        self.long_stuck_status: str | None = None

    @activity.defn(name="notify.plan")
    async def plan(self, inp: PlanInput) -> PlanResult:
        now = datetime.fromisoformat(inp.now)
        if inp.member_id in (3, 5, 7):
            return PlanResult(
                send_at=(now + timedelta(days=7)).isoformat(), why="preferred day", status=None
            )
        if inp.member_id == 8:
            return PlanResult(
                send_at=now.isoformat(), why="no allowed instant", status=None, problem="blackout"
            )
        if inp.member_id == 10 and activity.info().is_local:
            raise ApplicationError("KafkaConnectionError: Unable to bootstrap (stand-in)")
        outcome = "DELIVERED_EMAIL" if inp.member_id in (1, 6, 10) else None
        if inp.member_id == 2:
            handle = self.client.get_workflow_handle(inp.workflow_id)
            told = DeliveryOutcome(
                inp.bill_id, inp.purpose, "DELIVERED_SMS", "sms", now.isoformat()
            )
            asyncio.get_running_loop().call_later(
                1.0, lambda: asyncio.ensure_future(handle.signal(OUTCOME_SIGNAL, told))
            )
        return PlanResult(
            send_at=now.isoformat(), why="due", status=None, published=True, outcome=outcome
        )

    @activity.defn(name="notify.outcome")
    async def outcome(self, inp: OutcomeQuery) -> str | None:
        return self.long_stuck_status if inp.bill_id == 9 else self.stuck_status

    @activity.defn(name="notify.month_scope")
    async def month_scope(self, month: str) -> MonthScope | None:
        return MonthScope(month=month, first_member_id=1, last_member_id=10)

    @activity.defn(name="notify.start_range")
    async def start_range(self, inp: StartInput) -> int:
        return inp.last_member_id - inp.first_member_id + 1

    @activity.defn(name="notify.undispatched_reservations")
    async def undispatched_reservations(self) -> list[ReservationRef]:
        return [
            ReservationRef(id=1, month="2026-11", members=[3], send_at="2026-12-05T10:00:00+09:00")
        ]

    # v6 on: the reservation's row instead of its list (a version before asks for the other)
    @activity.defn(name="notify.undispatched_reservation_refs")
    async def undispatched_reservation_refs(self) -> list[ReservationRef]:
        ref = MemberListRef(kind=RESERVATION, id=1)
        return [
            ReservationRef(
                id=1,
                month="2026-11",
                members=None,
                send_at="2026-12-05T10:00:00+09:00",
                member_list=ref,
            )
        ]

    @activity.defn(name="notify.reservation_dispatched")
    async def reservation_dispatched(self, reservation_id: int) -> None:
        return None

    @activity.defn(name="settlement.open")
    async def open_settlement(self, sid: str, month: str) -> SettlementScope:
        return SettlementScope(
            settlement_id=sid,
            month=month,
            first_member_id=1,
            last_member_id=10,
            members=10,
            run=1,
        )

    @activity.defn(name="settlement.settle_shard")
    async def settle_shard(self, inp: ShardInput) -> ShardResult:
        n = inp.last_member_id - inp.first_member_id + 1
        return ShardResult(
            members=n,
            already_billed=0,
            bills=n,
            items=5 * n,
            errors=0,
            amount_due=50_000 * n,
            totals={"PLAN": 50_000 * n},
        )

    @activity.defn(name="settlement.close")
    async def close_settlement(self, inp: CloseInput) -> SettlementSummary:
        return SettlementSummary(
            settlement_id=inp.settlement_id,
            month=inp.month,
            members=10,
            bills=10,
            items=50,
            errors=0,
            amount_due=500_000,
            totals={"PLAN": 500_000},
            bills_created=10,
            items_created=50,
        )


@activity.defn(name=ARCHIVE_DUE)
async def archive_due(req: RetentionRequest) -> RetentionResult:
    return RetentionResult(archived=["2024-10"], rows=1_000, bytes=2**20)


VERSION = sys.argv[1] if len(sys.argv) > 1 else "vNext"
ONLY = set(sys.argv[2:])  # scenarios to record alone (none named: all)


async def save(name: str, handle: WorkflowHandle[Any, Any]) -> None:
    name = f"{VERSION}_{name}"
    """The history as Temporal exports it, and its workflow id in ids.json (a replay needs it)."""
    history = await handle.fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    index = HERE / "ids.json"
    ids = json.loads(index.read_text()) if index.exists() else {}
    index.write_text(json.dumps({**ids, name: handle.id}, indent=2, sort_keys=True) + "\n")
    print(f"recorded {name}: {len(history.events)} events")


async def record_scheduled_settlement(client: Client, queue: str, tag: str) -> None:
    """The monthly Schedule's workflow, started by hand (no scheduled instant: its month is the
    one before now); it starts `settlement-<month>`, a stand-in settlement without notifications."""
    scheduled = await client.start_workflow(
        ScheduledSettlementWorkflow.run,
        ScheduledSettlementInput(
            settlement=SettlementInput(
                month="", shard_size=4, chunk_size=2, parallel=2, notify=False
            )
        ),
        id=f"record-scheduled-settlement-{tag}",
        task_queue=queue,
    )
    await scheduled.result()
    await save("scheduled_settlement", scheduled)


async def record_retention(client: Client, queue: str, tag: str) -> None:
    """v7: the monthly retention Schedule's workflow (a stand-in archive)."""
    run = await client.start_workflow(
        MonthlyRetentionWorkflow.run,
        RetentionInput(time_zone="Asia/Seoul"),
        id=f"record-retention-{tag}",
        task_queue=queue,
    )
    await run.result()
    await save("retention", run)


async def record_continued(
    client: Client, s: StandIns, start: Callable[..., Awaitable[WorkflowHandle[Any, str]]]
) -> None:
    """v5: a STUCK notification (a check every 0.05 s here, not 3 h) that reaches the history
    bound and continues as new, found delivered in a later run; one without a send window,
    re-planned on signals (not daily) until it continues as new. Each run is a history."""

    async def current_run(workflow_id: str) -> str:
        return (await client.get_workflow_handle(workflow_id).describe()).run_id

    stuck = await start(9, stuck_after_s=0.05)
    for _ in range(600):  # ~45 checks of 0.05 s to the bound: seconds
        if await current_run(stuck.id) != stuck.result_run_id:
            break
        await asyncio.sleep(0.2)
    s.long_stuck_status = "DELIVERED_EMAIL"
    await stuck.result()
    first = client.get_workflow_handle(stuck.id, run_id=stuck.result_run_id)
    await save("notify_stuck_continued", first)
    await save("notify_stuck_resumed", client.get_workflow_handle(stuck.id))
    blocked = await start(8)
    while await current_run(blocked.id) == blocked.result_run_id:
        await blocked.signal(BillNotificationWorkflow.preferences_changed)
    latest = client.get_workflow_handle(blocked.id)
    await latest.signal(BillNotificationWorkflow.preferences_changed)  # the next run, told
    await asyncio.sleep(1)
    first = client.get_workflow_handle(blocked.id, run_id=blocked.result_run_id)
    await save("notify_no_window_continued", first)
    await save("notify_no_window_resumed", latest)
    await latest.terminate("recorded")


async def main() -> None:
    settings = Settings()
    client = await Client.connect(settings.temporal_target)
    queue = f"record-{uuid.uuid4().hex[:8]}"
    s = StandIns(client)
    tag = uuid.uuid4().hex[:6]

    async def start(
        member: int, stuck_after_s: float = 3600, delay: float | None = None, signal: str = ""
    ) -> WorkflowHandle[Any, str]:
        return await client.start_workflow(
            BillNotificationWorkflow.run,
            NotifyInput(
                bill_id=member,
                member_id=member,
                month="2026-11",
                stuck_after_s=stuck_after_s,
                version=LEAN,
            ),
            id=f"record-notify-{tag}-{member}",
            task_queue=queue,
            search_attributes=initial_search_attributes("2026-11", member),
            start_delay=timedelta(seconds=delay) if delay else None,
            start_signal=signal or None,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[
            s.plan,
            s.outcome,
            s.month_scope,
            s.start_range,
            s.undispatched_reservations,
            s.undispatched_reservation_refs,
            s.reservation_dispatched,
            s.open_settlement,
            s.settle_shard,
            s.close_settlement,
            archive_due,
        ],
    ):
        if {"retention"} == ONLY:
            await record_retention(client, queue, tag)
            return
        # v6: the local plan's attempts spent (Kafka away), the regular activity publishes
        fallback = await start(10)
        await fallback.result()
        await save("notify_plan_fallback", fallback)
        if ONLY:
            assert {"notify_plan_fallback"} == ONLY, f"cannot record {ONLY} alone"
            return
        due, told_later, asleep, stuck = [
            await start(1),
            await start(2),
            await start(3),
            await start(4, stuck_after_s=2),
        ]
        await due.result()
        await told_later.result()
        await save("notify_due_outcome_at_once", due)
        await save("notify_due_outcome_signalled", told_later)
        await asyncio.sleep(1)
        await asleep.signal(BillNotificationWorkflow.preferences_changed)
        await asyncio.sleep(1)
        await save("notify_asleep_replanned", asleep)
        await asleep.terminate("recorded")
        await asyncio.sleep(4)  # STUCK by now
        s.stuck_status = "DELIVERED_EMAIL"
        await stuck.result()
        await save("notify_stuck_then_found", stuck)
        daily = await client.start_workflow(
            ScheduledDispatchWorkflow.run,
            "Asia/Seoul",
            id=f"record-scheduled-dispatch-{tag}",
            task_queue=queue,
        )
        await daily.result()
        await save("scheduled_dispatch", daily)
        moved = await start(5)  # asleep (member 5 plans a week ahead too), then the clock moves
        await asyncio.sleep(1)
        if hasattr(BillNotificationWorkflow, "replan_now"):  # v3 and later
            await moved.signal("replan_now", 86_400.0)
            await asyncio.sleep(1)
            await save("notify_clock_moved", moved)
        await moved.terminate("recorded")
        # v4: a delayed start that wakes due at its instant, and one woken early by a
        # Signal-With-Start (a preference change) that re-plans and sleeps
        woke = await start(6, delay=2)
        await woke.result()
        await save("notify_delayed_start_due", woke)
        await start(7, delay=3600)
        woken = await start(7, delay=3600, signal="preferences_changed")
        await asyncio.sleep(1)
        await save("notify_delayed_start_woken", woken)
        await woken.terminate("recorded")
        # an admin's "send now" naming members, over three member ranges (before 2026-11-27
        # every range's activity input held the whole list; now only its own members)
        listed = await client.start_workflow(
            DispatchWorkflow.run,
            DispatchInput(
                month="2026-11",
                members=[2, 5, 9],
                reserved_at="2026-12-05T10:00:00+09:00",
                range_size=4,
            ),
            id=f"record-dispatch-listed-{tag}",
            task_queue=queue,
        )
        await listed.result()
        await save("dispatch_listed_members", listed)
        month = await client.start_workflow(
            MonthlySettlementWorkflow.run,
            SettlementInput(month="2026-11", shard_size=4, chunk_size=2, parallel=2),
            id=f"record-{settlement_id('2026-11')}-{tag}",
            task_queue=queue,
        )
        await month.result()
        await save("settlement_then_dispatch", month)
        await record_scheduled_settlement(client, queue, tag)
        # v5: a "send now" naming a stored member list (its id in the input, not the list)
        by_ref = await client.start_workflow(
            DispatchWorkflow.run,
            DispatchInput(
                month="2026-11",
                reserved_at="2026-12-05T10:00:00+09:00",
                range_size=4,
                member_list=MemberListRef(kind=SEND_LIST, id=1),
            ),
            id=f"record-dispatch-member-list-{tag}",
            task_queue=queue,
        )
        await by_ref.result()
        await save("dispatch_member_list", by_ref)
        await record_continued(client, s, start)
        await record_retention(client, queue, tag)
    print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC into {HERE}")


if __name__ == "__main__":
    asyncio.run(main())
    os._exit(0)  # the client's threads can abort a finalizing interpreter (sdk-python#300)
