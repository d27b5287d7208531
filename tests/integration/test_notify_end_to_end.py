"""The whole month on the real stack: settle → notification workflows → Kafka consumers →
outcome reported back. Every bill ends in exactly one terminal state, the same in PostgreSQL
and in Temporal (workflow result and NotifyStatus)."""

from __future__ import annotations

import asyncio

from telebill.config import Settings
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, prepare, running
from workflows.dispatch import DispatchResult
from workflows.notification import NOTIFY_STATUS
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

MEMBERS = 120


async def test_a_month_is_settled_notified_and_every_bill_ends_in_one_state(
    databases: Databases, settings: Settings
) -> None:
    # member 1 fails by e-mail and SMS (dead letter), member 2 by e-mail only (SMS)
    stack = await prepare(databases, settings, MEMBERS, failing=(1, 2))
    client = stack.client
    async with running(stack):
        settlement_id = f"n{stack.tag}-settlement-{MONTH}"
        summary = await client.execute_workflow(
            MonthlySettlementWorkflow.run,
            SettlementInput(month=MONTH, shard_size=50, chunk_size=25, parallel=2),
            id=settlement_id,
            task_queue=stack.settings.task_queue,
        )
        assert summary.bills == MEMBERS  # reported before any notification went out
        dispatched = await client.get_workflow_handle(
            f"{settlement_id}/dispatch", result_type=DispatchResult
        ).result()
        assert dispatched.started == MEMBERS
        ids = {m: stack.workflow_id(m) for m in range(1, MEMBERS + 1)}
        results = await asyncio.wait_for(
            asyncio.gather(*(client.get_workflow_handle(w).result() for w in ids.values())),
            timeout=600,
        )
        from_temporal = dict(zip(ids, results, strict=True))
        attributes = {}
        for member, wid in ids.items():
            described = await client.get_workflow_handle(wid).describe()
            attributes[member] = described.typed_search_attributes.get(NOTIFY_STATUS)
    rows = await stack.conn.fetch(
        "SELECT b.member_id, array_agg(n.status) AS statuses FROM bill b "
        "LEFT JOIN notification n ON n.bill_id = b.id GROUP BY b.member_id"
    )
    in_db = {r["member_id"]: r["statuses"] for r in rows}
    await stack.conn.close()
    assert len(in_db) == MEMBERS
    assert all(len(v) == 1 for v in in_db.values())  # one notification per bill
    assert {m: v[0] for m, v in in_db.items()} == from_temporal == attributes
    assert from_temporal[1] == "DEAD_LETTER" and from_temporal[2] == "DELIVERED_SMS"
    assert sum(1 for v in from_temporal.values() if v == "DELIVERED_EMAIL") == MEMBERS - 2
