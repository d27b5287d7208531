"""Reporting terminal outcomes to the notification workflows (the outbox side of
`telebill.messaging.outcome`).

A notification row that a workflow waits on (`workflow_id` set) and that reached a terminal status
is reported once `reported_at` is set. The reporter claims unreported rows with SKIP LOCKED (every
consumer process may run one), signals their workflows concurrently and marks them. When Temporal
cannot be reached the rows stay unreported and the next pass, or another process, tries again;
the workflow also looks in PostgreSQL itself when it hears nothing for a while.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from telebill.config import Settings
from telebill.db.connect import DbConn

# next_report_in is imported from here too (the tests).
from telebill.db.delivery_store import (
    claim_unreported,
    ended_keys,
    mark_reported,
    mark_reported_ids,
)
from telebill.db.delivery_store import next_report_in as next_report_in
from telebill.delivery.waker import Waker
from telebill.domain.statuses import NotificationStatus
from telebill.messaging.outcome import OUTCOME_SIGNAL, DeliveryOutcome, OutcomeSink
from telebill.temporal_client import connect_client

log = logging.getLogger(__name__)

REPORT_BATCH = 500
SIGNALS_AT_ONCE = 50
IDLE_CHECK_S = 10.0
MAX_BACKOFF_S = 60.0


class TemporalOutcomeSink:
    """Signals the workflow; connects on first use so a consumer with nothing to report never
    needs Temporal."""

    def __init__(self, connect: Callable[[], Awaitable[Client]]) -> None:
        self._connect = connect
        self._client: Client | None = None

    async def report(self, workflow_id: str, outcome: DeliveryOutcome) -> bool:
        if self._client is None:
            self._client = await self._connect()
        try:
            await self._client.get_workflow_handle(workflow_id).signal(OUTCOME_SIGNAL, outcome)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return True  # finished or never started: nobody is waiting for it
            if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                raise
            log.warning("outcome of %s not reported: %s", workflow_id, exc.message)
            return False
        return True


def temporal_sink(settings: Settings) -> TemporalOutcomeSink:
    """The sink of an installation: its Temporal, connected on first use."""

    async def connect() -> Client:
        return await connect_client(settings)

    return TemporalOutcomeSink(connect)


async def report_pending(
    conn: DbConn, sink: OutcomeSink, grace_s: float = 0.0, limit: int = REPORT_BATCH
) -> int:
    """Report one batch of unreported terminal outcomes; return how many were reported.
    Notifications published less than `grace_s` ago are left to the publishing activity, which
    may still be waiting for them (it hands the outcome over itself, which saves the workflow a
    signal); the later ones (retries, deferrals, dead letters) are reported as soon as they end."""
    async with conn.transaction():
        rows = await claim_unreported(conn, grace_s, limit)
        gate = asyncio.Semaphore(SIGNALS_AT_ONCE)

        async def one(r: asyncpg.Record) -> bool:
            outcome = DeliveryOutcome(
                r["bill_id"],
                r["purpose"],
                r["status"],
                r["channel"] if r["status"] != NotificationStatus.DEAD_LETTER else None,
                r["at"].isoformat(),
            )
            async with gate:
                return await sink.report(r["workflow_id"], outcome)

        told = await asyncio.gather(*(one(r) for r in rows))
        done = [r["id"] for r, ok in zip(rows, told, strict=True) if ok]
        if done:
            await mark_reported_ids(conn, done)
    return len(done)


class OutcomeReporter:
    def __init__(self, pool: asyncpg.Pool, sink: OutcomeSink, grace_s: float = 0.0) -> None:
        self.grace_s = grace_s
        self.pool = pool
        self.sink = sink
        self.waker = Waker()  # woken when this process records a terminal outcome
        self.reported = 0

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    n = await report_pending(conn, self.sink, self.grace_s)
                    upcoming = (
                        None if n == REPORT_BATCH else await next_report_in(conn, self.grace_s)
                    )
                self.reported += n
                backoff = 1.0
                if n == REPORT_BATCH:
                    continue
                # A little past the moment, so that the row is eligible by then.
                wait = IDLE_CHECK_S if upcoming is None else min(upcoming + 0.1, IDLE_CHECK_S)
            except (OSError, RuntimeError, RPCError, asyncpg.PostgresError) as exc:
                # Temporal or PostgreSQL unreachable: the outcomes stay in the outbox.
                log.warning("outcomes not reported yet (%s); retrying in %.0f s", exc, backoff)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_S)
            await self.waker.sleep(wait, stop)


class OutcomeWatch:
    """Lets many activities wait for their notifications' outcomes with one query per interval
    (never one query per waiting notification), and marks the outcomes it hands over as
    reported with one statement per interval (the reporter need not signal them)."""

    def __init__(self, pool: asyncpg.Pool, interval_s: float = 0.25) -> None:
        self.pool = pool
        self.interval_s = interval_s
        self.waiting: dict[tuple[int, str], list[asyncio.Future[str]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, bill_id: int, purpose: str, timeout_s: float) -> str | None:
        """The terminal status, or None when there is none within `timeout_s`."""
        key = (bill_id, purpose)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            # handed over while the timeout was being taken: the watch marks it reported, so
            # it is this caller's to pass on
            return future.result() if future.done() else None
        finally:
            waiters = self.waiting.get(key, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self.waiting.pop(key, None)

    async def _watch(self) -> None:
        while self.waiting:
            await asyncio.sleep(self.interval_s)
            keys = list(self.waiting)
            try:
                async with self.pool.acquire() as conn:
                    ended = await ended_keys(conn, keys)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # PostgreSQL away: the waiters keep waiting (until their own timeout), the
                # watch keeps looking; a watch that died would leave them all to time out.
                log.warning("outcomes not looked up (%s); trying again", exc)
                await asyncio.sleep(1.0)
                continue
            handed = []
            for key, status in ended.items():
                futures = [f for f in self.waiting.pop(key, []) if not f.done()]
                for future in futures:
                    future.set_result(status)
                if futures:
                    handed.append(key)
            if handed:
                await self._mark(handed)

    async def _mark(self, keys: list[tuple[int, str]]) -> None:
        """After the waiters have their outcomes (a mark first would leave an outcome that a
        waiter timing out meanwhile never took, and nobody to signal it). Unmarked, as when
        PostgreSQL is away or the worker dies first, the reporter signals them after its grace:
        a second telling, which the workflow ignores."""
        try:
            async with self.pool.acquire() as conn:
                await mark_reported(conn, keys)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("%d outcomes handed over, not marked (%s): reported later", len(keys), exc)
