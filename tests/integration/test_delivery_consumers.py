"""The e-mail → SMS → DLQ chain on real Kafka and PostgreSQL (providers simulated)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.client import Client
from temporalio.worker import Worker

from telebill.config import Settings
from telebill.db.blackout_store import add_blackout, remove_blackout
from telebill.db.dead_letter_store import list_dead_letters
from telebill.db.delivery_store import Published, mark_published
from telebill.delivery.outcomes import TemporalOutcomeSink
from telebill.delivery.replay import replay
from telebill.domain.send_window import Window, earliest_allowed
from tests.integration.delivery_platform import MEMBERS, Platform, event
from tests.integration.outcome_waiter import OutcomeWaiter


async def test_every_bill_delivered_once_failures_fall_back_and_end_in_the_dlq(
    platform: Platform,
) -> None:
    c = platform.conn
    bills = {r["member_id"]: r["id"] for r in await c.fetch("SELECT id, member_id FROM bill")}
    events = [event(bill, member) for member, bill in bills.items()]
    duplicate = events[4].model_copy(update={"event_id": uuid.uuid4()})
    await platform.publish(*(e.to_bytes() for e in events), duplicate.to_bytes(), b"not json")

    async def finished() -> bool:
        settled = await c.fetchval("SELECT count(*) FROM notification WHERE status <> 'PENDING'")
        letters = await c.fetchval("SELECT count(*) FROM dead_letter")
        return bool(settled == MEMBERS and letters == 2)

    await platform.run_until(finished)
    status: dict[int, str] = {
        r[0]: r[1] for r in await c.fetch("SELECT bill_id, status FROM notification")
    }
    assert status[bills[1]] == "DEAD_LETTER"
    assert status[bills[2]] == "DELIVERED_SMS"
    assert sum(1 for s in status.values() if s == "DELIVERED_EMAIL") == MEMBERS - 2
    attempts = await c.fetch(
        "SELECT d.channel, d.attempt, d.outcome, d.template_version, d.message_kind "
        "FROM delivery_attempt d JOIN notification n ON n.id = d.notification_id "
        "WHERE n.bill_id = $1 ORDER BY d.id",
        bills[1],
    )
    # 1 + 3 e-mail attempts, then 1 + 3 SMS attempts, all failed
    assert [(a["channel"], a["attempt"]) for a in attempts] == [
        ("email", 1),
        ("email", 2),
        ("email", 3),
        ("email", 4),
        ("sms", 1),
        ("sms", 2),
        ("sms", 3),
        ("sms", 4),
    ]
    assert {a["outcome"] for a in attempts} == {"FAILED"}
    assert attempts[0]["template_version"] == 1 and attempts[4]["message_kind"] in {"SMS", "LMS"}
    dup_attempts = await c.fetchval(
        "SELECT count(*) FROM delivery_attempt d JOIN notification n ON n.id = d.notification_id "
        "WHERE n.bill_id = $1",
        events[4].bill_id,
    )
    assert dup_attempts == 1  # published twice, sent once
    reasons = [r[0] for r in await c.fetch("SELECT reason FROM dead_letter ORDER BY id")]
    assert any("not JSON" in r for r in reasons)
    assert any("sms failed 4 times" in r for r in reasons)
    letter = await c.fetchrow(
        "SELECT first_error, last_error FROM dead_letter WHERE bill_id = $1", bills[1]
    )
    assert letter is not None and letter["first_error"] and letter["last_error"]

    # Replay: the dead letter goes back to the e-mail topic; with the provider fixed it is
    # delivered, and replaying again finds nothing left to replay.
    replayed = await replay(c, platform.settings.kafka_servers, platform.topics, None)
    assert len(replayed.done) == 1
    [(skipped, why)] = replayed.skipped  # the non-JSON message: said, and the rest went on
    assert "holds no event to replay (not JSON" in why
    platform.settings = platform.settings.model_copy(update={"fail_addresses": ""})

    async def redelivered() -> bool:
        got = await c.fetchval("SELECT status FROM notification WHERE bill_id = $1", bills[1])
        return bool(got == "DELIVERED_EMAIL")

    await platform.run_until(redelivered)
    left = await list_dead_letters(c)
    assert [d.bill_id for d in left] == [None]  # only the non-JSON message, which holds no event
    again = await replay(c, platform.settings.kafka_servers, platform.topics, None)
    assert again.done == [] and [i for i, _ in again.skipped] == [skipped]


async def test_a_retry_inside_a_blackout_window_or_quiet_hours_waits_for_the_window_to_end(
    platform: Platform,
) -> None:
    c = platform.conn
    bills = {r["member_id"]: r["id"] for r in await c.fetch("SELECT id, member_id FROM bill")}
    now = datetime.now(UTC)
    seoul = now.astimezone(ZoneInfo("Asia/Seoul"))
    start = (seoul - timedelta(minutes=5)).time().replace(second=0, microsecond=0)
    end = (seoul + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    await add_blackout(c, "test window", start, end, None, "Asia/Seoul")
    # member 4 lives in New York and is inside quiet hours of their own right now
    ny = now.astimezone(ZoneInfo("America/New_York"))
    q_start = (ny - timedelta(minutes=5)).time().replace(second=0, microsecond=0)
    q_end = (ny + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    await c.execute(
        "UPDATE member SET timezone = 'America/New_York', quiet_start = $1, quiet_end = $2 "
        "WHERE id = 4",
        q_start,
        q_end,
    )
    retry = event(bills[3], 3).model_copy(
        update={"attempt": 2, "not_before": now + timedelta(seconds=0.5)}
    )
    await platform.publish_to(platform.topics.retry("email", 1), retry)
    await platform.publish(event(bills[4], 4).to_bytes(), key=b"4")

    async def deferred() -> bool:
        return bool(await c.fetchval("SELECT count(*) FROM deferred_event") == 2)

    await platform.run_until(deferred)
    rows = {
        r["bill_id"]: r for r in await c.fetch("SELECT bill_id, due_at, reason FROM deferred_event")
    }
    window = Window(start, end, "Asia/Seoul")
    assert rows[bills[3]]["due_at"] == earliest_allowed(now, [window])
    assert "test window" in rows[bills[3]]["reason"]
    assert "quiet hours" in rows[bills[4]]["reason"]
    assert rows[bills[4]]["due_at"] >= earliest_allowed(
        now, [window, Window(q_start, q_end, "America/New_York")]
    )
    outcomes = await c.fetch(
        "SELECT n.bill_id, d.outcome, d.attempt FROM delivery_attempt d "
        "JOIN notification n ON n.id = d.notification_id"
    )
    assert sorted((r["bill_id"], r["outcome"], r["attempt"]) for r in outcomes) == sorted(
        [(bills[3], "DEFERRED", 2), (bills[4], "DEFERRED", 1)]
    )

    # The clock reaches the end of the windows (the rows are made due, the windows lifted):
    # the releaser publishes them again and they are sent, the retry still as attempt 2.
    await remove_blackout(c, "test window")
    await c.execute("UPDATE member SET quiet_start = NULL, quiet_end = NULL WHERE id = 4")
    await c.execute("UPDATE deferred_event SET due_at = now()")

    async def sent() -> bool:
        n = await c.fetchval("SELECT count(*) FROM notification WHERE status = 'DELIVERED_EMAIL'")
        return bool(n == 2)

    await platform.run_until(sent)
    attempts = await c.fetch(
        "SELECT d.outcome, d.attempt FROM delivery_attempt d "
        "JOIN notification n ON n.id = d.notification_id WHERE n.bill_id = $1 ORDER BY d.id",
        bills[3],
    )
    assert [(a["outcome"], a["attempt"]) for a in attempts] == [("DEFERRED", 2), ("SENT", 2)]
    assert await c.fetchval("SELECT count(*) FROM deferred_event") == 0


async def test_outcomes_reach_the_waiting_workflows_even_when_temporal_was_down(
    platform: Platform, settings: Settings
) -> None:
    c = platform.conn
    bills = {r["member_id"]: r["id"] for r in await c.fetch("SELECT id, member_id FROM bill")}
    client = await Client.connect(settings.temporal_target)
    queue = f"outcomes-{uuid.uuid4().hex[:8]}"
    handles = {}
    async with Worker(client, task_queue=queue, workflows=[OutcomeWaiter]):
        for member in (1, 3):  # member 1 fails on every channel
            wid = f"test-outcome-{uuid.uuid4().hex[:8]}-{member}"
            handles[member] = await client.start_workflow(
                OutcomeWaiter.run, id=wid, task_queue=queue
            )
            await mark_published(
                c, [Published(bills[member], "MONTHLY_BILL", wid, datetime.now(UTC))]
            )
            await platform.publish(event(bills[member], member).to_bytes(), key=b"1")

        async def connect_nowhere() -> Client:
            return await Client.connect("127.0.0.1:1")

        unreachable = TemporalOutcomeSink(connect_nowhere)

        async def terminal() -> bool:
            n = await c.fetchval("SELECT count(*) FROM notification WHERE status <> 'PENDING'")
            return bool(n == 2)

        await platform.run_until(terminal, sink=unreachable)
        # delivered and dead-lettered while Temporal could not be told: kept in the outbox
        assert await c.fetchval("SELECT count(*) FROM notification WHERE reported_at IS NULL") == 2

        async def reported() -> bool:
            n = await c.fetchval("SELECT count(*) FROM notification WHERE reported_at IS NULL")
            return bool(n == 0)

        await platform.run_until(reported)  # consumers with the real sink
        assert await asyncio.wait_for(handles[3].result(), 30) == "DELIVERED_EMAIL"
        assert await asyncio.wait_for(handles[1].result(), 30) == "DEAD_LETTER"
