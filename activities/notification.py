"""Notification activities: plan a bill's send instant, publish its event, look up its outcome,
and start the notification workflows of a member range (for settlement, dispatch and
reservations), each page of bills planned at once and started delayed until its instant.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.heartbeat import Pulse, heartbeating
from telebill import clock
from telebill.config import Settings
from telebill.contracts.notification import (
    RESERVATION,
    RESERVE,
    MemberListRef,
    MonthScope,
    OutcomeQuery,
    PlanInput,
    PlanResult,
    ReservationRef,
    StartInput,
    notify_input,
    notify_workflow_id,
)
from telebill.db.blackout_store import BlackoutCache
from telebill.db.connect import DbConn
from telebill.db.delivery_store import Published, mark_published
from telebill.db.month_views import MONTHLY
from telebill.db.notify_store import (
    BillPreferences,
    BillRef,
    PlannedSend,
    bills_to_notify,
    load_bill_preferences,
    member_range,
    notification_status,
    record_plan,
    record_plan_problem,
    record_plans,
)
from telebill.db.reservation_store import listed_members, mark_dispatched, undispatched
from telebill.delivery.outcomes import OutcomeWatch
from telebill.domain.chain import parse_chains
from telebill.domain.month import parse_month
from telebill.domain.send_window import NoAllowedInstant, Plan
from telebill.domain.statuses import NotificationStatus
from telebill.messaging.events import NotificationEvent
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.producer import durable_producer
from telebill.messaging.topics import Topics
from telebill.notify_plans import plan_bill, plan_monthly_bills
from telebill.temporal_gateway import TemporalGateway

__all__ = [  # the payloads, for those who import them from here
    "MonthScope",
    "NotificationActivities",
    "OutcomeQuery",
    "PlanInput",
    "PlanResult",
    "ReservationRef",
    "StartInput",
    "notify_workflow_id",
]

START_PAGE = 500


def remaining_wait(budget_s: float, since: datetime, now: datetime) -> float:
    """What is left of `budget_s` counted from `since`: never below 0, never above the budget
    (a clock that went back counts as nothing spent)."""
    spent = max((now - since).total_seconds(), 0.0)
    return max(budget_s - spent, 0.0)


class NotificationActivities:
    def __init__(
        self, pool: asyncpg.Pool, settings: Settings, client: Client, task_queue: str
    ) -> None:
        self.task_queue = task_queue  # where the notification workflows it starts run
        self.pool = pool
        self.settings = settings
        self.client = client
        self.temporal = TemporalGateway(client, settings)
        self.topics = Topics(settings.topic_prefix)
        self.chains = parse_chains(settings.channel_chains)
        self.watch = OutcomeWatch(pool)
        self.blackouts = BlackoutCache(settings.system_time_zone, settings.blackout_refresh_s)
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                p = durable_producer(kafka_client_kwargs(self.settings), linger_ms=5)
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
        throughput is the limit). As a regular activity it heartbeats throughout."""
        async with heartbeating():
            return await self._plan(inp)

    async def _plan(self, inp: PlanInput) -> PlanResult:
        async with self.pool.acquire() as conn:
            r = await load_bill_preferences(conn, inp.bill_id, inp.purpose)
            if r is None:
                raise ApplicationError(f"no bill {inp.bill_id}", non_retryable=True)
            if r.status not in (None, NotificationStatus.PENDING):
                return PlanResult(send_at=inp.now, why="already " + r.status, status=r.status)
            windows = await self.blackouts.windows(conn)
            now = datetime.fromisoformat(inp.now)
            reserved = datetime.fromisoformat(inp.reserved_at) if inp.reserved_at else None
            try:
                plan = plan_bill(r, windows, now, inp.purpose, reserved)
            except NoAllowedInstant as exc:
                # Visible (NotifyStatus, `telebill status`), not a workflow failing every day.
                allowed = [*windows, r.quiet_hours] if r.quiet_hours else windows
                problem = f"{exc}: {', '.join(w.label() for w in allowed)}"
                await record_plan_problem(conn, inp.bill_id, inp.purpose, inp.workflow_id, problem)
                return PlanResult(send_at=inp.now, why=problem, status=r.status, problem=problem)
            due = plan.send_at <= now
            if due:
                await mark_published(
                    conn, [Published(inp.bill_id, inp.purpose, inp.workflow_id, plan.send_at)]
                )
            else:
                await record_plan(conn, inp.bill_id, inp.purpose, inp.workflow_id, plan.send_at)
        outcome = None
        if due:
            # a monthly bill starts where the member chose (as the member is now); a resend
            # where the admin said
            await self.publish(inp, r.bill_channel if inp.purpose == MONTHLY else inp.channel)
            # handed over here (the watch marks it reported): the reporter need not signal it
            outcome = await self.watch.wait(inp.bill_id, inp.purpose, self.outcome_wait(inp))
        return PlanResult(
            send_at=plan.send_at.isoformat(),
            why=plan.explain(),
            status=r.status,
            published=due,
            outcome=outcome,
        )

    def outcome_wait(self, inp: PlanInput) -> float:
        """How long to wait for the outcome after publishing. A local plan's wait counts from
        the moment the local activity was scheduled, inside its workflow task: when the worker
        or PostgreSQL is slow, the wait shrinks rather than the task growing toward its timeout
        (the SDK warned of tasks past 5 s on a loaded send day; the reporter's signal brings
        the outcome of a bill whose wait ran out). sdk-core gives every attempt of a local
        activity its first attempt's schedule time, so a retry after a quick failure has little
        or nothing left to wait: the task's length is what the budget bounds."""
        s = self.settings
        if not inp.local:
            return s.notify_outcome_wait_s
        info = activity.info() if activity.in_activity() else None
        if info is None or not info.is_local:
            return s.notify_local_outcome_wait_s
        since = info.current_attempt_scheduled_time
        if inp.task_started_at is not None:  # the task began earlier still: count from there
            since = min(since, datetime.fromisoformat(inp.task_started_at))
        return remaining_wait(s.notify_local_outcome_wait_s, since, datetime.now(UTC))

    async def publish(self, inp: PlanInput, channel: str) -> None:
        """The bill's first event, on the chain that starts at `channel` (e-mail → SMS when the
        installation has none starting there). Idempotent: an activity retry publishes again,
        and the delivery key keeps it from being sent twice."""
        chain = self.chains.get(channel, self.chains["email"])
        event = NotificationEvent(
            event_id=uuid.uuid4(),
            bill_id=inp.bill_id,
            member_id=inp.member_id,
            billing_month=inp.month,
            purpose=inp.purpose,
            channel=chain.first,
            chain=chain.channels,
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
        if not found:
            return None
        first, last = found
        return MonthScope(month=month, first_member_id=first, last_member_id=last)

    @activity.defn(name="notify.undispatched_reservations")
    async def undispatched_reservations(self) -> list[ReservationRef]:
        """Reservations whose dispatch failed or never ran (the daily dispatch starts them)."""
        async with self.pool.acquire() as conn:
            found = await undispatched(conn)
        return [
            ReservationRef(
                id=r.id,
                month=f"{r.billing_month:%Y-%m}",
                members=r.member_ids,
                send_at=r.send_at.isoformat(),
            )
            for r in found
        ]

    @activity.defn(name="notify.undispatched_reservation_refs")
    async def undispatched_reservation_refs(self) -> list[ReservationRef]:
        """The same reservations, each naming its row (`member_list`) instead of its members:
        the result is recorded in the daily dispatch's history and becomes its child's input,
        where a list of up to 1,000,000 ids would pass Temporal's 2 MB payload limit. A new
        activity rather than a new result of the old one: a workflow still on the old code
        reads `members`, and would take a missing list for the whole month."""
        async with self.pool.acquire() as conn:
            found = await undispatched(conn)
        return [
            ReservationRef(
                id=r.id,
                month=f"{r.billing_month:%Y-%m}",
                members=None,
                send_at=r.send_at.isoformat(),
                member_list=MemberListRef(kind=RESERVATION, id=r.id) if r.member_ids else None,
            )
            for r in found
        ]

    @activity.defn(name="notify.reservation_dispatched")
    async def reservation_dispatched(self, reservation_id: int) -> None:
        async with self.pool.acquire() as conn:
            await mark_dispatched(conn, reservation_id)

    @activity.defn(name="notify.start_range")
    async def start_range(self, inp: StartInput) -> int:
        """Start (or, with a reservation, signal) the notification workflows of a member range,
        a page at a time: one query plans the page, each workflow starts delayed until its
        instant, one statement records the plans. How many were started or signalled.
        A stored member list (`member_list`) is read a page at a time too, never whole.
        Heartbeats the last member done, so a retry resumes there, and keeps heartbeating it
        while a page is under way (a dead worker's range moves on within the heartbeat timeout)."""
        details = activity.info().heartbeat_details
        after = int(details[0]) if details else inp.first_member_id - 1
        started = int(details[1]) if details else 0
        async with heartbeating(after, started) as pulse:
            return await self._start_range(inp, after, started, pulse)

    async def _start_range(self, inp: StartInput, after: int, started: int, pulse: Pulse) -> int:
        month = parse_month(inp.month)
        listed = inp.member_list
        while True:
            now = clock.now(self.settings)
            horizon = now + timedelta(hours=self.settings.notify_start_horizon_h)
            async with self.pool.acquire() as conn:
                members, last = inp.members, inp.last_member_id
                if listed is not None:  # this page's members (one bill each a month at most)
                    members = await listed_members(
                        conn, listed.kind, listed.id, after, last, START_PAGE
                    )
                    if not members:
                        return started
                    last = members[-1]
                page = await bills_to_notify(
                    conn,
                    month,
                    after,
                    last,
                    START_PAGE,
                    members,
                    now if inp.only_overdue else None,
                    horizon,
                )
                if not page and listed is None:
                    return started
                plans = await self.plan_page(conn, inp, page, now) if page else []
            if plans:
                started += await self.start_page(inp, plans, now, horizon)
            # a listed page is done to its last member, even those without a bill to start
            after = last if listed is not None else page[-1].member_id
            pulse.details = (after, started)
            activity.heartbeat(after, started)

    async def plan_page(
        self, conn: DbConn, inp: StartInput, page: list[BillRef], now: datetime
    ) -> list[Planned]:
        """Each bill and its plan (None: no allowed instant; its workflow says why)."""
        reserved = datetime.fromisoformat(inp.reserved_at) if inp.reserved_at else None
        windows = await self.blackouts.windows(conn)
        started = {b.bill_id for b in page if b.started}
        planned = await plan_monthly_bills(conn, [b.bill_id for b in page], windows, now, reserved)
        return [Planned(r, plan, r.bill_id in started) for r, plan in planned]

    async def start_page(
        self, inp: StartInput, plans: list[Planned], now: datetime, horizon: datetime
    ) -> int:
        """A reservation is a signal (Signal-With-Start: a waiting workflow wakes to re-plan).
        Otherwise a bill due before `horizon` gets its workflow, started delayed until its
        instant (one already running keeps its own plan), and a later one is only planned:
        the daily dispatch starts it when its day is near. Every plan is recorded (`telebill
        status` counts them scheduled), those of workflows found running too, so that a
        retry after a page's starts and before its record leaves no bill without its row.
        How many workflows were started or told."""
        gate = asyncio.Semaphore(self.settings.notify_parallel_starts)
        signal: tuple[str, list[object]] | None = (
            (RESERVE, [inp.reserved_at]) if inp.reserved_at else None
        )

        def later(p: Planned) -> bool:
            return not signal and not p.started and p.plan is not None and p.plan.send_at > horizon

        async def one(p: Planned) -> bool:
            r, plan = p.bill, p.plan
            if later(p):
                return False
            params = notify_input(
                self.settings, r.bill_id, r.member_id, inp.month, reserved_at=inp.reserved_at
            )
            async with gate:
                return await self.temporal.start_notification(
                    params,
                    task_queue=self.task_queue,
                    now=now,
                    send_at=plan.send_at if plan is not None else None,
                    signal=signal,
                )

        started = await asyncio.gather(*(one(p) for p in plans))
        prefix = self.settings.workflow_id_prefix
        async with self.pool.acquire() as conn:
            await record_plans(
                conn,
                MONTHLY,
                [
                    PlannedSend(
                        p.bill.bill_id,
                        None
                        if later(p)
                        else notify_workflow_id(inp.month, p.bill.member_id, prefix),
                        p.plan.send_at,
                    )
                    for p in plans
                    if p.plan is not None
                ],
            )
        return sum(started)


@dataclass(frozen=True)
class Planned:
    """A bill of a page, its plan (None: no allowed instant), and whether its workflow was
    started before."""

    bill: BillPreferences
    plan: Plan | None
    started: bool
