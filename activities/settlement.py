"""Settlement activities: open the month, settle a shard chunk by chunk, close the month.

Payloads carry months and id ranges only, never member data (Temporal's 2 MB payload limit).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

import asyncpg
from temporalio import activity

from activities.settlement_pool import PricingPool
from telebill.contracts.settlement import (
    CloseInput,
    SettlementScope,
    SettlementSummary,
    ShardInput,
    ShardResult,
)
from telebill.db.partition_store import open_months_from
from telebill.db.settlement_store import (
    ChunkOutcome,
    complete_settlement,
    load_products,
    month_totals,
    open_settlement,
    settle_chunk,
)
from telebill.domain.month import parse_month
from telebill.metrics import SETTLED_BILLS, SETTLED_MEMBERS, SETTLEMENT_REFUSED

_OUTCOME_FIELDS = frozenset(f.name for f in fields(ChunkOutcome))


def _resumed(done: dict[str, Any]) -> ChunkOutcome:
    """The sums a previous attempt heartbeated. Before the payloads moved to the contract it sent
    the whole ShardResult (the range too): only the sums are taken."""
    return ChunkOutcome(**{k: v for k, v in done.items() if k in _OUTCOME_FIELDS})


class SettlementActivities:
    """The settlement's I/O; one instance per worker, sharing the worker's connection pool and
    its pool of pricing processes."""

    def __init__(self, pool: asyncpg.Pool, pricing: PricingPool) -> None:
        self.pool = pool
        self.pricing = pricing

    @activity.defn(name="settlement.open")
    async def open_settlement(self, settlement_id: str, month: str) -> SettlementScope:
        billing_month = parse_month(month)
        async with self.pool.acquire() as conn:
            # the month's partitions, and the next month's for its usage, before any bill
            await open_months_from(conn, billing_month)
            first, last, members, run = await open_settlement(conn, settlement_id, billing_month)
        return SettlementScope(
            settlement_id=settlement_id,
            month=month,
            first_member_id=first,
            last_member_id=last,
            members=members,
            run=run,
        )

    @activity.defn(name="settlement.settle_shard")
    async def settle_shard(self, inp: ShardInput) -> ShardResult:
        month = parse_month(inp.month)
        done = ChunkOutcome()  # the chunks' sums so far; the frozen ShardResult is built at the end
        start = inp.first_member_id
        details = activity.info().heartbeat_details
        if details:  # a retry: carry on after the last chunk the previous attempt committed
            resumed = details[0]
            start = int(resumed["next_member_id"])
            done = _resumed(resumed["done"])
        async with self.pool.acquire() as conn:
            products = await load_products(conn, month)
            while start <= inp.last_member_id:
                end = min(start + inp.chunk_size - 1, inp.last_member_id)
                outcome = await settle_chunk(
                    conn, month, inp.settlement_id, start, end, products, self.pricing.price
                )
                done.add(outcome)
                SETTLED_MEMBERS.inc(outcome.members)
                SETTLED_BILLS.inc(outcome.bills)
                SETTLEMENT_REFUSED.inc(outcome.errors)
                start = end + 1
                activity.heartbeat({"next_member_id": start, "done": asdict(done)})
        return ShardResult(
            members=done.members,
            already_billed=done.already_billed,
            bills=done.bills,
            items=done.items,
            errors=done.errors,
            amount_due=done.amount_due,
            totals=done.totals,
            first_member_id=inp.first_member_id,
            last_member_id=inp.last_member_id,
        )

    @activity.defn(name="settlement.close")
    async def close_settlement(self, inp: CloseInput) -> SettlementSummary:
        """Month totals from the database itself, so they are right whatever was retried; what
        "this run" created is what was written since it opened the settlement record."""
        month = parse_month(inp.month)
        async with self.pool.acquire() as conn:
            t = await month_totals(conn, inp.settlement_id, month)
            summary = SettlementSummary(
                settlement_id=inp.settlement_id,
                month=inp.month,
                members=t.members,
                bills=t.bills,
                items=t.items,
                errors=t.errors,
                amount_due=t.amount_due,
                totals=t.totals,
                bills_created=t.new_bills,
                items_created=t.new_items,
                nothing_due=t.nothing_due,
            )
            await complete_settlement(
                conn,
                inp.settlement_id,
                last_run_bills=summary.bills_created,
                last_run_items=summary.items_created,
                bills=summary.bills,
                items=summary.items,
                errors=summary.errors,
                amount_due=summary.amount_due,
                totals=summary.totals,
            )
        return summary
