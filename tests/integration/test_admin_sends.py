"""The operator's sends on the real stack, through the service layer as the CLI and the API call
it: two resends of a bill at the same moment are one resend and both callers are told the same;
a "send now" and a reservation naming members pass a reference to the stored list, never the
list, and the start activity reads it a page at a time."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.history.v1 import HistoryEvent

from activities.notification import NotificationActivities
from telebill.config import Settings
from telebill.contracts.notification import RESERVATION, MemberListRef, ReservationRef
from telebill.db.reservation_store import add_reservation
from telebill.domain.db_roles import DbRole
from telebill.domain.month import parse_month
from telebill.service import notify, reservations
from telebill.service.deps import Deps
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, running
from tests.integration.test_api import settled, until
from workers.temporal_worker import create_pool

SEOUL = ZoneInfo("Asia/Seoul")


async def test_two_resends_at_once_are_one_and_both_are_told_it(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    deps = Deps(stack.settings)
    bill = await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = 3")
    # No worker yet: neither resend can have planned (and so been counted) before the other
    # starts, the collision the ids used to have (the second got WorkflowAlreadyStartedError).
    by_email, by_sms = await asyncio.gather(
        notify.resend(deps, bill, "email"), notify.resend(deps, bill, "sms")
    )
    assert by_email == by_sms  # the same resend: purpose, channel and workflow
    assert by_email.purpose == "RESEND-1" and by_email.workflow_id.endswith("-resend-1")
    delivered = "DELIVERED_EMAIL" if by_email.channel == "email" else "DELIVERED_SMS"
    async with running(stack):
        await until(
            stack,
            f"SELECT count(*) FROM notification WHERE bill_id = {bill} "
            f"AND purpose = 'RESEND-1' AND status = '{delivered}'",
            1,
        )
        # a request once the first has planned is a resend of its own
        later = await notify.resend(deps, bill, "sms")
        assert later.purpose == "RESEND-2" and later.workflow_id != by_email.workflow_id
        await until(
            stack,
            f"SELECT count(*) FROM notification WHERE bill_id = {bill} "
            "AND purpose LIKE 'RESEND-%' AND status LIKE 'DELIVERED%'",
            2,
        )
    await stack.conn.close()


def payload_json(event: HistoryEvent) -> dict[str, object]:
    """The first argument of a workflow start or an activity, as the history stores it."""
    if event.HasField("workflow_execution_started_event_attributes"):
        payloads = event.workflow_execution_started_event_attributes.input.payloads
    else:
        payloads = event.activity_task_scheduled_event_attributes.input.payloads
    found: dict[str, object] = json.loads(payloads[0].data)
    return found


async def inputs(deps: Deps, workflow_id: str) -> list[dict[str, object]]:
    """The dispatch's input and its start activities' inputs."""
    history = await (await deps.temporal()).get_workflow_handle(workflow_id).fetch_history()
    return [
        payload_json(e)
        for e in history.events
        if e.HasField("workflow_execution_started_event_attributes")
        or (
            e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name
            == "notify.start_range"
        )
    ]


async def test_send_now_and_a_reservation_pass_their_member_list_by_reference(
    databases: Databases, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a page of one member: the stored list is read page by page, resuming after each
    monkeypatch.setattr("activities.notification.START_PAGE", 1)
    stack = await settled(databases, settings)
    deps = Deps(stack.settings)
    async with running(stack):
        now = await notify.send_now(deps, MONTH, [2, 5, 7])
        assert await notify.dispatched_count(deps, now.workflow_id) == 3
        listed = await stack.conn.fetchrow("SELECT id, member_ids FROM send_list")
        assert listed is not None and listed["member_ids"] == [2, 5, 7]
        reference = {"kind": "send_list", "id": listed["id"]}
        for given in await inputs(deps, now.workflow_id):
            assert given.get("members") is None and given["member_list"] == reference
        started = await stack.conn.fetch(
            "SELECT b.member_id FROM notification n JOIN bill b ON b.id = n.bill_id "
            "WHERE n.workflow_id IS NOT NULL ORDER BY 1"
        )
        assert [r["member_id"] for r in started] == [2, 5, 7]

        at = datetime(2027, 1, 5, 10, 0, tzinfo=SEOUL)
        reserved = await reservations.reserve(deps, at, MONTH, [3, 4])
        assert await notify.dispatched_count(deps, reserved.dispatch_workflow_id) == 2
        for given in await inputs(deps, reserved.dispatch_workflow_id):
            assert given.get("members") is None
            assert given["member_list"] == {"kind": "reservation", "id": reserved.id}
        await until(
            stack,
            "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
            "WHERE b.member_id IN (3, 4) AND n.send_at = '2027-01-05T01:00:00Z'",
            2,
        )
    await stack.conn.close()


async def test_a_reservation_left_undispatched_is_handed_on_by_its_row(
    databases: Databases, settings: Settings
) -> None:
    """What the daily dispatch is given for a reservation whose own dispatch failed, read as
    the worker's role: a reference to the row (its child dispatch's input, see
    tests/workflows/test_dispatch_workflow.py), never the list; a whole-month one names none.
    The row's members are what start_range then reads (the test above)."""
    stack = await settled(databases, settings)
    at = datetime(2027, 1, 5, 10, 0, tzinfo=SEOUL)
    before = datetime(2027, 1, 1, tzinfo=SEOUL)
    listed = await add_reservation(stack.conn, at, parse_month(MONTH), [3, 4], before)
    whole = await add_reservation(stack.conn, at, parse_month(MONTH), None, before)
    pool = await create_pool(stack.settings, DbRole.WORKER)
    try:
        found = await NotificationActivities(
            pool, stack.settings, stack.client, stack.settings.task_queue
        ).undispatched_reservation_refs()
    finally:
        await pool.close()
    send_at = at.astimezone(UTC).isoformat()  # as PostgreSQL gives it back
    assert found == [
        ReservationRef(
            id=listed,
            month=MONTH,
            members=None,
            send_at=send_at,
            member_list=MemberListRef(kind=RESERVATION, id=listed),
        ),
        ReservationRef(id=whole, month=MONTH, members=None, send_at=send_at, member_list=None),
    ]
    await stack.conn.close()
