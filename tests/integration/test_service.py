"""The service layer on the real stack, called as the CLI and the API call it: its refusals are
of the kind each caller turns into an answer (NotFound, Unavailable, a plain refusal), a change
made before a service went away is kept and said so, and one connection per call or a pool
behave the same."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from telebill.clock import offset_to
from telebill.config import Settings, asyncpg_dsn
from telebill.errors import NotFound, TelebillError, Unavailable
from telebill.service import blackouts, dead_letters, members, month, notify, reservations
from telebill.service import templates as tpl
from telebill.service.deps import Deps
from tests.helpers import free_port
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH
from tests.integration.test_api import settled

SEOUL = ZoneInfo("Asia/Seoul")


async def test_refusals_are_of_the_kind_the_callers_answer_with(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    deps = Deps(stack.settings)
    for missing in (
        members.member(deps, 999_999),
        members.bills(deps, 999_999),
        notify.resend(deps, 999_999),
        reservations.cancel(deps, 999_999),
        tpl.template(deps, "sms", "monthly_bill", 99),
        tpl.activate(deps, "sms", 99),
        tpl.preview(deps, "email", bill_id=999_999),
        blackouts.remove(deps, "nope"),
        dead_letters.replay(deps, [999_999]),
        month.settlement_report(deps, "2026-01"),
    ):
        with pytest.raises(NotFound):
            await missing
    for refused, says in (
        (notify.send_now(deps, "2026-13", None), "2026-13"),
        (notify.resend(deps, 1, "fax"), r"chains \(email, sms\)"),
        (members.update_preferences(deps, 1), "nothing to change"),
        (members.update_preferences(deps, 1, preferred_day=32), "1–31"),
        (members.set_limit(deps, 1, -1), "0–1,000,000"),
        (blackouts.add(deps, "all-day", "00:00", "23:59"), "refused"),
        (dead_letters.replay(deps, None), "say which"),
        (tpl.preview(deps, "sms", draft=tpl.Draft(None, "{{ nope }}")), "nope"),
        (month.start_settlement(deps, MONTH, shard_size=0), "at least 1"),
    ):
        with pytest.raises(TelebillError, match=says) as caught:
            await refused
        assert not isinstance(caught.value, NotFound | Unavailable)
    plan = await notify.send_plan(deps, 1, MONTH)
    assert plan["bill"] is not None and plan["notification_status"] == "not scheduled"


async def test_a_reservation_made_while_temporal_is_away_is_kept_and_said_so(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    away = Deps(stack.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"}))
    at = datetime(2027, 1, 5, 10, 0, tzinfo=SEOUL)
    with pytest.raises(Unavailable, match="is kept"):
        await reservations.reserve(away, at, MONTH, [2])
    kept = await reservations.reservations(Deps(stack.settings))
    assert [(r.member_ids, r.status) for r in kept] == [([2], "RESERVED")]
    assert kept[0].last_error
    view = await month.status(away, MONTH)  # PostgreSQL's side, Temporal's left out
    assert view.temporal is None and view.db.bills > 0


async def test_a_preference_change_while_temporal_is_away_replans_a_bill_planned_for_later(
    databases: Databases, settings: Settings
) -> None:
    """A bill planned for the 20th whose workflow the daily dispatch has not started yet: the
    member moves to the 5th while Temporal is away; the change is saved, said so, and the
    bill's plan in PostgreSQL moves to the 5th, so that the daily dispatch starts it in time."""
    stack = await settled(databases, settings)
    await stack.conn.execute(
        "UPDATE member SET timezone = 'Asia/Seoul', quiet_start = NULL, quiet_end = NULL, "
        "preferred_day = 20 WHERE id = 2"
    )
    await stack.conn.execute("DELETE FROM blackout_window")
    bill = await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = 2")
    await stack.conn.execute(
        "INSERT INTO notification (billing_month, bill_id, send_at)"
        " SELECT billing_month, id, $2 FROM bill WHERE id = $1",
        bill,
        datetime(2026, 12, 20, tzinfo=SEOUL),
    )
    away = Deps(
        stack.settings.model_copy(
            update={
                "temporal_address": f"127.0.0.1:{free_port()}",
                "clock_offset_s": offset_to(datetime(2026, 12, 1, 9, 0, tzinfo=SEOUL)),
            }
        )
    )
    with pytest.raises(Unavailable, match="saved"):
        await members.update_preferences(away, 2, preferred_day=5)
    row = await stack.conn.fetchrow(
        "SELECT send_at, workflow_id FROM notification WHERE bill_id = $1", bill
    )
    assert row is not None
    assert (row["send_at"], row["workflow_id"]) == (datetime(2026, 12, 5, tzinfo=SEOUL), None)


async def test_a_pool_and_a_connection_per_call_give_the_same_answers(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    pool = await asyncpg.create_pool(asyncpg_dsn(stack.settings.db_url), min_size=1, max_size=2)
    assert pool is not None
    try:
        pooled, single = Deps(stack.settings, pool), Deps(stack.settings)
        for deps in (pooled, single):
            saved = await members.update_preferences(deps, 3, preferred_day=9)
            assert saved.member.preferred_day == 9 and saved.replanned == 0
        assert await tpl.templates(pooled) == await tpl.templates(single)
        assert await month.db_status(pooled, MONTH) == await month.db_status(single, MONTH)
    finally:
        await pool.close()


async def test_a_member_chooses_a_bill_channel_the_installation_has_a_chain_for(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    plain = Deps(stack.settings)  # e-mail → SMS only
    with pytest.raises(TelebillError, match="unknown bill channel 'alimtalk'"):
        await members.update_preferences(plain, 2, channel="alimtalk")
    four = Deps(stack.settings.model_copy(update={"channel_chains": "alimtalk>email>sms;push>sms"}))
    saved = await members.update_preferences(four, 2, channel="alimtalk")
    assert saved.member.bill_channel == "alimtalk"
    assert (await members.update_preferences(four, 2, channel="sms")).member.bill_channel == "sms"
    seeded = {(await members.member(plain, m)).bill_channel for m in range(3, 9)}
    assert seeded <= {"alimtalk", "email", "push", "sms"}


async def test_a_members_bills_come_six_months_a_page(
    databases: Databases, settings: Settings
) -> None:
    """The member page asks for a range of months, so its cost does not grow with the history
    online; the months before it are a page further, offered only when one is online."""
    stack = await settled(databases, settings)

    def at(instant: datetime) -> Deps:
        return Deps(stack.settings.model_copy(update={"clock_offset_s": offset_to(instant)}))

    member = await stack.conn.fetchval("SELECT min(member_id) FROM bill")
    now = await members.bills(at(datetime(2026, 12, 10, tzinfo=SEOUL)), member)
    assert (now.since, now.before, now.older) == ("2026-07", "2027-01", None)
    assert {b.month for b in now.bills} == {MONTH}

    later = at(datetime(2027, 5, 10, tzinfo=SEOUL))
    latest = await members.bills(later, member)
    assert (latest.since, latest.before, latest.bills, latest.older) == (
        "2026-12",
        "2027-06",
        [],
        "2026-12",  # November is online: a page further
    )
    older = await members.bills(later, member, latest.older)
    assert {b.month for b in older.bills} == {MONTH} and older.older is None
    # a page that ends where the bills begin: empty, and nothing older to offer
    assert await members.bills(later, member, MONTH) == members.MemberBills(
        [], "2026-05", MONTH, None
    )
    with pytest.raises(TelebillError, match="YYYY-MM"):
        await members.bills(later, member, "2026-13")
