"""Member preferences, the dispatch's choice of bills and the outcome reporter's, on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import asyncpg
import pytest
from temporalio.client import Client

from activities.notification import NotificationActivities, PlanInput
from telebill.config import Settings, asyncpg_dsn
from telebill.db.blackout_store import add_blackout
from telebill.db.connect import connect
from telebill.db.delivery_store import (
    Attempt,
    Published,
    mark_published,
    mark_reported,
    record_attempts,
)
from telebill.db.member_store import get_member, parse_quiet, update_member
from telebill.db.month_views import MONTHLY, month_status
from telebill.db.notify_store import bills_to_notify, record_plan, waiting_workflows
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.delivery.outcomes import OutcomeWatch, next_report_in, report_pending
from telebill.domain.month import parse_month
from telebill.errors import TelebillError
from telebill.messaging.outcome import DeliveryOutcome
from telebill.seed.load import seed_population
from tests.integration.conftest import Databases

NOV = parse_month("2026-11")


async def settled(db: asyncpg.Connection, members: int) -> None:
    await seed_population(db, members, NOV, None, workers=1)
    await settle_chunk(db, NOV, "settlement-2026-11", 1, members, await load_products(db, NOV))


async def test_preferences_are_validated_and_saved(db: asyncpg.Connection) -> None:
    await settled(db, 3)
    await add_blackout(db, "night", time(21), time(8), None, "Asia/Seoul")
    for kwargs, reason in (
        ({"preferred_day": 32}, "1–31"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        # with the 21:00–08:00 blackout, 07:00–22:00 quiet hours leave no time at all
        ({"quiet": (time(7), time(22))}, "no time left to send"),
    ):
        with pytest.raises(TelebillError, match=reason):
            await update_member(db, 1, "Asia/Seoul", **kwargs)
    with pytest.raises(TelebillError, match="HH:MM"):
        parse_quiet("7-22")
    saved = await update_member(
        db, 1, "Asia/Seoul", preferred_day=31, quiet=parse_quiet("12:00-13:30"), timezone="UTC"
    )
    assert (saved.preferred_day, saved.quiet_label, saved.timezone) == (31, "12:00–13:30", "UTC")
    cleared = await update_member(db, 1, "Asia/Seoul", no_quiet=True)
    assert cleared.quiet_label == "none" and (await get_member(db, 1)).preferred_day == 31
    with pytest.raises(TelebillError, match="no member 99"):
        await get_member(db, 99)


async def test_dispatch_takes_unscheduled_and_overdue_bills_only(db: asyncpg.Connection) -> None:
    await settled(db, 6)
    bills = {r["member_id"]: r["id"] for r in await db.fetch("SELECT id, member_id FROM bill")}
    now = datetime.now(UTC)
    await record_plan(db, bills[1], MONTHLY, "notify-2026-11-1", now + timedelta(days=3))
    await record_plan(db, bills[2], MONTHLY, "notify-2026-11-2", now - timedelta(hours=2))
    await record_plan(db, bills[3], MONTHLY, "notify-2026-11-3", now - timedelta(hours=2))
    await record_attempts(db, [Attempt(bills[3], MONTHLY, "email", 1, "SENT")])
    catch_up = await bills_to_notify(db, NOV, 0, 10, 100, None, now)
    # 1 is waiting for its day, 3 is delivered: 2 (overdue) and 4–6 (never scheduled) remain
    assert [b.member_id for b in catch_up] == [2, 4, 5, 6]
    everyone = await bills_to_notify(db, NOV, 0, 10, 100, None, None)
    assert [b.member_id for b in everyone] == [1, 2, 4, 5, 6]  # all undelivered (a reservation)
    assert [b.member_id for b in await bills_to_notify(db, NOV, 0, 10, 2, None, None)] == [1, 2]
    assert [b.member_id for b in await bills_to_notify(db, NOV, 4, 10, 100, [5, 1], None)] == [5]
    waiting = await waiting_workflows(db, member_ids=[1])
    assert [(w.workflow_id, w.bill_id, w.member_id, w.month) for w in waiting] == [
        ("notify-2026-11-1", bills[1], 1, "2026-11")
    ]
    assert await waiting_workflows(db, member_ids=[3]) == []
    status = await month_status(db, NOV, now)
    assert (status.bills, status.not_scheduled, status.scheduled, status.due) == (6, 3, 2, 1)
    assert status.delivered_email == 1 and status.next_send_at is not None
    assert not status.caught_up


class RecordingSink:
    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    async def report(self, workflow_id: str, outcome: DeliveryOutcome) -> bool:
        self.told.append((workflow_id, outcome.status))
        return True


async def test_reporter_leaves_recent_publications_to_their_activity(
    db: asyncpg.Connection,
) -> None:
    await settled(db, 3)
    bills = {r["member_id"]: r["id"] for r in await db.fetch("SELECT id, member_id FROM bill")}
    now = datetime.now(UTC)
    await mark_published(db, [Published(bills[m], MONTHLY, f"wf-{m}", now) for m in (1, 2, 3)])
    # 1 was published a minute ago (a retried e-mail ending now), 2 just now, 3 has not ended
    await db.execute(
        "UPDATE notification SET published_at = now() - interval '60 seconds' WHERE bill_id = $1",
        bills[1],
    )
    await record_attempts(db, [Attempt(bills[m], MONTHLY, "email", 1, "SENT") for m in (1, 2)])
    sink = RecordingSink()
    assert await report_pending(db, sink, grace_s=15) == 1
    assert sink.told == [("wf-1", "DELIVERED_EMAIL")]
    # 2 becomes the reporter's when its activity has stopped waiting, in about 15 s
    wait = await next_report_in(db, 15)
    assert wait is not None and 10 < wait <= 15
    await mark_reported(db, [(bills[2], MONTHLY)])  # its activity took it
    assert await next_report_in(db, 15) is None
    assert await report_pending(db, sink, grace_s=0) == 0 and len(sink.told) == 1


async def test_the_watch_hands_outcomes_over_and_marks_only_those_it_handed(
    databases: Databases,
) -> None:
    """The activities' outcome watch: the waiters of ended notifications get their status, and
    those (only) are marked reported in one statement, so the reporter does not signal them;
    an outcome that came after its waiter gave up is left to the reporter."""
    url = await databases.create()
    db = await connect(url)
    await settled(db, 3)
    bills = {r["member_id"]: r["id"] for r in await db.fetch("SELECT id, member_id FROM bill")}
    now = datetime.now(UTC)
    await mark_published(db, [Published(bills[m], MONTHLY, f"wf-{m}", now) for m in (1, 2, 3)])
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
    assert pool is not None
    watch = OutcomeWatch(pool, interval_s=0.05)
    try:
        waiting = [
            asyncio.create_task(watch.wait(bills[m], MONTHLY, timeout))
            for m, timeout in ((1, 10.0), (2, 10.0), (3, 0.2))
        ]
        await record_attempts(db, [Attempt(bills[m], MONTHLY, "email", 1, "SENT") for m in (1, 2)])
        assert await asyncio.gather(*waiting) == ["DELIVERED_EMAIL", "DELIVERED_EMAIL", None]
        await record_attempts(db, [Attempt(bills[3], MONTHLY, "email", 1, "SENT")])
        marked = await db.fetch(
            "SELECT bill_id FROM notification WHERE reported_at IS NOT NULL ORDER BY bill_id"
        )
        assert [r["bill_id"] for r in marked] == [bills[1], bills[2]]
        sink = RecordingSink()
        assert await report_pending(db, sink, grace_s=0) == 1
        assert sink.told == [("wf-3", "DELIVERED_EMAIL")]
    finally:
        await pool.close()
        await db.close()


async def test_a_plan_with_no_time_to_send_is_recorded_and_counted_not_failed(
    databases: Databases, settings: Settings
) -> None:
    url = await databases.create()
    db = await connect(url)
    await settled(db, 3)
    bill = await db.fetchval("SELECT id FROM bill WHERE member_id = 2")
    # written around the checks, as an old row or a manual edit might: nothing is left to send
    await db.execute(
        "UPDATE member SET quiet_start = '00:00', quiet_end = '23:30', timezone = 'Asia/Seoul' "
        "WHERE id = 2"
    )
    await db.execute(
        "INSERT INTO blackout_window (name, start_time, end_time) VALUES ('late', '23:00', '01:00')"
    )
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
    assert pool is not None
    client = await Client.connect(settings.temporal_target)
    try:
        fresh = settings.model_copy(update={"blackout_refresh_s": 0.0})  # no cached windows
        acts = NotificationActivities(pool, fresh, client, "unused")
        now = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)
        inp = PlanInput(
            bill_id=bill,
            member_id=2,
            month="2026-11",
            purpose=MONTHLY,
            channel="email",
            workflow_id="notify-2026-11-2",
            now=now.isoformat(),
        )
        result = await acts.plan(inp)
        assert result.problem is not None and "leave no time to send" in result.problem
        assert "late 23:00–01:00" in result.problem and "quiet hours" in result.problem
        assert not result.published
        problem = await db.fetchval(
            "SELECT plan_problem FROM notification WHERE bill_id = $1", bill
        )
        assert problem == result.problem
        assert (await month_status(db, NOV, now)).no_time_to_send == 1
        # a plan that succeeds later clears it
        await db.execute("DELETE FROM blackout_window")
        again = await acts.plan(inp)  # the same bill, planned again at the same instant
        assert again.problem is None
        assert (await month_status(db, NOV, now)).no_time_to_send == 0
    finally:
        await pool.close()
        await acts.close()
        await db.close()
