"""Settlement activities: open the month, settle a shard chunk by chunk, close the month.

Payloads carry months and id ranges only, never member data (Temporal's 2 MB payload limit).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import asyncpg
from temporalio import activity

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


@dataclass(frozen=True)
class SettlementScope:
    settlement_id: str
    month: str
    first_member_id: int
    last_member_id: int
    members: int
    run: int


@dataclass(frozen=True)
class ShardInput:
    settlement_id: str
    month: str
    first_member_id: int
    last_member_id: int
    chunk_size: int


@dataclass
class ShardResult(ChunkOutcome):
    """What a shard's chunks added up to, for the member range it covered."""

    first_member_id: int = 0
    last_member_id: int = 0


@dataclass(frozen=True)
class CloseInput:
    settlement_id: str
    month: str


@dataclass(frozen=True)
class SettlementSummary:
    settlement_id: str
    month: str
    members: int
    bills: int  # bills of the month, all runs
    items: int
    errors: int
    amount_due: int
    totals: dict[str, int]
    bills_created: int  # by this run
    items_created: int
    nothing_due: int = 0

    @property
    def nothing_left(self) -> bool:
        return self.bills_created == 0


class SettlementActivities:
    """The settlement's I/O; one instance per worker, sharing the worker's connection pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="settlement.open")
    async def open_settlement(self, settlement_id: str, month: str) -> SettlementScope:
        billing_month = parse_month(month)
        async with self.pool.acquire() as conn:
            first, last, members, run = await open_settlement(conn, settlement_id, billing_month)
        return SettlementScope(settlement_id, month, first, last, members, run)

    @activity.defn(name="settlement.settle_shard")
    async def settle_shard(self, inp: ShardInput) -> ShardResult:
        month = parse_month(inp.month)
        result = ShardResult(first_member_id=inp.first_member_id, last_member_id=inp.last_member_id)
        start = inp.first_member_id
        details = activity.info().heartbeat_details
        if details:  # a retry: carry on after the last chunk the previous attempt committed
            resumed = details[0]
            start = int(resumed["next_member_id"])
            result = ShardResult(**resumed["done"])
        async with self.pool.acquire() as conn:
            products = await load_products(conn, month)
            while start <= inp.last_member_id:
                end = min(start + inp.chunk_size - 1, inp.last_member_id)
                outcome = await settle_chunk(conn, month, inp.settlement_id, start, end, products)
                result.add(outcome)
                SETTLED_MEMBERS.inc(outcome.members)
                SETTLED_BILLS.inc(outcome.bills)
                SETTLEMENT_REFUSED.inc(outcome.errors)
                start = end + 1
                activity.heartbeat({"next_member_id": start, "done": asdict(result)})
        return result

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
