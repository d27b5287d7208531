"""The background tasks of a consumer process, supervised on the real services: a deferred-event
releaser and an outcome reporter whose first calls fail recover by themselves and do their
work; one that keeps failing stops with a one-line reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from telebill.db.delivery_store import Attempt, Published, mark_published, record_attempts
from telebill.delivery.batch import Deferral
from telebill.delivery.deferred import DeferredReleaser, defer_events
from telebill.delivery.outcomes import OutcomeReporter
from telebill.messaging.outcome import DeliveryOutcome
from telebill.messaging.producer import durable_producer
from telebill.resilience import TaskFailed, supervise
from tests.integration.delivery_platform import Platform, event


class FailingFirst:
    """Wraps an object; its `method` raises a bug-like error on the first `times` calls."""

    def __init__(self, inner: Any, method: str, times: int) -> None:
        self.inner, self.method, self.left = inner, method, times
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.left > 0:
                self.left -= 1
                raise KeyError("a bug that goes away")
            return await real(*args, **kwargs)

        return flaky


async def test_a_releaser_whose_first_publishes_fail_recovers_and_releases(
    platform: Platform,
) -> None:
    c, topics = platform.conn, platform.topics
    bill = await c.fetchval("SELECT id FROM bill WHERE member_id = 3")
    due = datetime.now(UTC) - timedelta(seconds=1)
    await defer_events(c, [Deferral(event(bill, 3), topics.channel("email"), due, "test")])
    producer = durable_producer(platform.settings.kafka_servers)
    await producer.start()
    flaky = FailingFirst(producer, "send", 2)
    releaser = DeferredReleaser(platform.pool, flaky, lambda: datetime.now(UTC), topics.dlq)
    stop = asyncio.Event()
    task = asyncio.create_task(
        supervise("releaser", lambda: releaser.run(stop), stop, max_wait_s=0.1)
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while await c.fetchval("SELECT count(*) FROM deferred_event"):
            assert asyncio.get_running_loop().time() < deadline, "never released"
            assert not task.done(), task
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
        await producer.stop()
    assert flaky.calls == 3 and releaser.released == 1
    consumer = AIOKafkaConsumer(
        topics.channel("email"),
        bootstrap_servers=platform.settings.kafka_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        got = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    assert sum(len(r) for r in got.values()) == 1  # released once, not lost


class Sink:
    def __init__(self) -> None:
        self.told: list[str] = []

    async def report(self, workflow_id: str, outcome: DeliveryOutcome) -> bool:
        self.told.append(workflow_id)
        return True


async def test_a_reporter_whose_first_reports_fail_recovers_and_reports(
    platform: Platform,
) -> None:
    c = platform.conn
    bill = await c.fetchval("SELECT id FROM bill WHERE member_id = 3")
    await mark_published(c, [Published(bill, "MONTHLY_BILL", "wf-3", datetime.now(UTC))])
    await record_attempts(c, [Attempt(bill, "MONTHLY_BILL", "email", 1, "SENT")])
    sink = Sink()
    flaky = FailingFirst(sink, "report", 2)
    reporter = OutcomeReporter(platform.pool, flaky, grace_s=0.0)
    stop = asyncio.Event()
    task = asyncio.create_task(
        supervise("reporter", lambda: reporter.run(stop), stop, max_wait_s=0.1)
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not sink.told:
            assert asyncio.get_running_loop().time() < deadline, "never reported"
            assert not task.done(), task
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await task
    assert sink.told == ["wf-3"] and flaky.calls == 3
    assert await c.fetchval(
        "SELECT reported_at IS NOT NULL FROM notification WHERE bill_id = $1", bill
    )


async def test_a_reporter_that_keeps_failing_stops_with_a_reason(platform: Platform) -> None:
    c = platform.conn
    bill = await c.fetchval("SELECT id FROM bill WHERE member_id = 3")
    await mark_published(c, [Published(bill, "MONTHLY_BILL", "wf-3", datetime.now(UTC))])
    await record_attempts(c, [Attempt(bill, "MONTHLY_BILL", "email", 1, "SENT")])
    reporter = OutcomeReporter(platform.pool, FailingFirst(Sink(), "report", 99), grace_s=0.0)
    stop = asyncio.Event()
    with pytest.raises(
        TaskFailed, match="outcome reporter failed 3 times in a row, last: KeyError"
    ):
        await supervise("outcome reporter", lambda: reporter.run(stop), stop, 3, max_wait_s=0.05)
