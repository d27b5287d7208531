"""Notification activities: plan a bill's send instant, publish its event, look up its outcome,
and start the notification workflows of a member range (for settlement, dispatch and
reservations).

Payloads carry ids, months and instants only, never member data.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaProducer
from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from telebill import clock
from telebill.config import Settings
from telebill.db.blackout_store import BlackoutCache
from telebill.db.notify_store import (
    MONTHLY,
    bills_to_notify,
    load_bill_preferences,
    member_range,
    notification_status,
    record_plan,
    record_plan_problem,
)
from telebill.db.reservation_store import mark_dispatched, undispatched
from telebill.delivery.outcomes import OutcomeWatch, mark_reported
from telebill.delivery.store import Published, mark_published
from telebill.domain.month import parse_month
from telebill.domain.send_window import NoAllowedInstant, plan_send
from telebill.messaging.events import NotificationEvent
from telebill.messaging.producer import durable_producer
from telebill.messaging.topics import Topics

if TYPE_CHECKING:  # the workflow module imports this one
    from workflows.notification import NotifyInput

START_PAGE = 500


@dataclass(frozen=True)
class PlanInput:
    bill_id: int
    member_id: int
    month: str
    purpose: str
    channel: str  # where the chain starts when it is published
    workflow_id: str
    now: str  # ISO; the workflow's clock, so a plan is the same on replay and in tests
    reserved_at: str | None = None


@dataclass(frozen=True)
class PlanResult:
    send_at: str  # ISO, UTC
    why: str
    status: str | None  # the notification's status in PostgreSQL (terminal: nothing to send)
    published: bool = False  # it was due, so the event went out in the same activity
    outcome: str | None = None  # and how it ended, when that came within notify_outcome_wait_s
    problem: str | None = None  # no allowed instant: why (the workflow shows it and waits)


@dataclass(frozen=True)
class OutcomeQuery:
    bill_id: int
    purpose: str


@dataclass(frozen=True)
class StartInput:
    month: str
    first_member_id: int
    last_member_id: int
    members: list[int] | None = None
    reserved_at: str | None = None  # signalled to running workflows too
    only_overdue: bool = True  # False: every undelivered bill (a reservation reaches them all)


@dataclass(frozen=True)
class MonthScope:
    month: str
    first_member_id: int
    last_member_id: int


@dataclass(frozen=True)
class ReservationRef:
    id: int
    month: str
    members: list[int] | None
    send_at: str  # ISO


def notify_workflow_id(month: str, member_id: int, prefix: str = "") -> str:
    return f"{prefix}notify-{month}-{member_id}"


class NotificationActivities:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, client: Client, task_queue: str
    ) -> None:
        self.task_queue = task_queue  # where the notification workflows it starts run
        self.pool = pool
        self.settings = settings
        self.client = client
        self.topics = Topics(settings.topic_prefix)
        self.watch = OutcomeWatch(pool)
        self.blackouts = BlackoutCache(settings.system_time_zone, settings.blackout_refresh_s)
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                p = durable_producer(self.settings.kafka_servers, linger_ms=5)
                await p.start()
                self._producer = p
            return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    @activity.defn(name="notify.plan")
    async def plan(self, inp: PlanInput) -> PlanResult:
        """Plan the send instant; when it is due already, publish the event at once and wait a
        little for its outcome (one activity and no signal for most bills: the server's
        throughput is the limit)."""
        async with self.pool.acquire() as conn:
            r = await load_bill_preferences(conn, inp.bill_id, inp.purpose)
            if r is None:
                raise ApplicationError(f"no bill {inp.bill_id}", non_retryable=True)
            if r.status not in (None, "PENDING"):
                return PlanResult(inp.now, "already " + r.status, r.status)
            windows = await self.blackouts.windows(conn)
            if r.quiet_hours:
                windows.append(r.quiet_hours)
            now = datetime.fromisoformat(inp.now)
            reserved = datetime.fromisoformat(inp.reserved_at) if inp.reserved_at else None
            if inp.purpose != MONTHLY and reserved is None:
                reserved = now  # a resend goes now, windows permitting
            try:
                plan = plan_send(
                    r.billing_month, r.preferred_day, r.timezone, now, windows, reserved
                )
            except NoAllowedInstant as exc:
                # Visible (NotifyStatus, `telebill status`), not a workflow failing every day.
                problem = f"{exc}: {', '.join(w.label() for w in windows)}"
                await record_plan_problem(conn, inp.bill_id, inp.purpose, inp.workflow_id, problem)
                return PlanResult(inp.now, problem, r.status, problem=problem)
            due = plan.send_at <= now
            if due:
                await mark_published(
                    conn, [Published(inp.bill_id, inp.purpose, inp.workflow_id, plan.send_at)]
                )
            else:
                await record_plan(conn, inp.bill_id, inp.purpose, inp.workflow_id, plan.send_at)
        outcome = None
        if due:
            await self.publish(inp)
            outcome = await self.watch.wait(
                inp.bill_id, inp.purpose, self.settings.notify_outcome_wait_s
            )
            if outcome is not None:  # handed over here: the reporter need not signal it
                async with self.pool.acquire() as conn:
                    await mark_reported(conn, inp.bill_id, inp.purpose)
        return PlanResult(plan.send_at.isoformat(), plan.explain(), r.status, due, outcome)

    async def publish(self, inp: PlanInput) -> None:
        """Idempotent: an activity retry publishes again, and the delivery key keeps it from
        being sent twice."""
        event = NotificationEvent(
            event_id=uuid.uuid4(),
            bill_id=inp.bill_id,
            member_id=inp.member_id,
            billing_month=inp.month,
            purpose=inp.purpose,
            channel="sms" if inp.channel == "sms" else "email",
        )
        producer = await self.producer()
        await producer.send_and_wait(
            self.topics.channel(event.channel), event.to_bytes(), key=event.key
        )

    @activity.defn(name="notify.outcome")
    async def outcome(self, inp: OutcomeQuery) -> str | None:
        async with self.pool.acquire() as conn:
            return await notification_status(conn, inp.bill_id, inp.purpose)

    @activity.defn(name="notify.month_scope")
    async def month_scope(self, month: str) -> MonthScope | None:
        async with self.pool.acquire() as conn:
            found = await member_range(conn, parse_month(month))
        return MonthScope(month, *found) if found else None

    @activity.defn(name="notify.undispatched_reservations")
    async def undispatched_reservations(self) -> list[ReservationRef]:
        """Reservations whose dispatch failed or never ran (the daily dispatch starts them)."""
        async with self.pool.acquire() as conn:
            found = await undispatched(conn)
        return [
            ReservationRef(r.id, f"{r.billing_month:%Y-%m}", r.member_ids, r.send_at.isoformat())
            for r in found
        ]

    @activity.defn(name="notify.reservation_dispatched")
    async def reservation_dispatched(self, reservation_id: int) -> None:
        async with self.pool.acquire() as conn:
            await mark_dispatched(conn, reservation_id)

    @activity.defn(name="notify.start_range")
    async def start_range(self, inp: StartInput) -> int:
        """Start (or, with a reservation, signal) the notification workflows of a member range.
        Heartbeats the last member done, so a retry resumes there."""
        from workflows.notification import BillNotificationWorkflow

        details = activity.info().heartbeat_details
        after = int(details[0]) if details else inp.first_member_id - 1
        started = int(details[1]) if details else 0
        month = parse_month(inp.month)
        gate = asyncio.Semaphore(self.settings.notify_parallel_starts)
        s = self.settings

        async def start(bill_id: int, member_id: int) -> None:
            params = notify_input(s, bill_id, member_id, inp.month, reserved_at=inp.reserved_at)
            async with gate:
                with contextlib.suppress(WorkflowAlreadyStartedError):  # ran and finished
                    await self.client.start_workflow(
                        BillNotificationWorkflow.run,
                        params,
                        id=notify_workflow_id(inp.month, member_id, s.workflow_id_prefix),
                        task_queue=self.task_queue,
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                        start_signal="reserve" if inp.reserved_at else None,
                        start_signal_args=[inp.reserved_at] if inp.reserved_at else [],
                        search_attributes=initial_search_attributes(inp.month, member_id),
                    )

        while True:
            overdue = clock.now(s) if inp.only_overdue else None
            async with self.pool.acquire() as conn:
                page = await bills_to_notify(
                    conn, month, after, inp.last_member_id, START_PAGE, inp.members, overdue
                )
            if not page:
                return started
            await asyncio.gather(*(start(b.bill_id, b.member_id) for b in page))
            after, started = page[-1].member_id, started + len(page)
            activity.heartbeat(after, started)


def notify_input(
    settings: Settings,
    bill_id: int,
    member_id: int,
    month: str,
    *,
    purpose: str = MONTHLY,
    channel: str = "email",
    reserved_at: str | None = None,
) -> NotifyInput:
    """A notification workflow's input, with this installation's clock and STUCK period."""
    from workflows.notification import NotifyInput

    return NotifyInput(
        bill_id,
        member_id,
        month,
        purpose=purpose,
        channel=channel,
        reserved_at=reserved_at,
        clock_offset_s=settings.clock_offset_s,
        stuck_after_s=settings.notify_stuck_after_s,
    )


def initial_search_attributes(month: str, member_id: int) -> TypedSearchAttributes:
    from workflows.notification import BILLING_MONTH, MEMBER_ID, NOTIFY_STATUS

    return TypedSearchAttributes(
        [
            SearchAttributePair(BILLING_MONTH, month),
            SearchAttributePair(MEMBER_ID, member_id),
            SearchAttributePair(NOTIFY_STATUS, "SCHEDULED"),
        ]
    )
