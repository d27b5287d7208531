"""Settlement activities: open the month, settle a shard chunk by chunk, close the month.

Payloads carry months and id ranges only, never member data (Temporal's 2 MB payload limit).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import asyncpg
from temporalio import activity

from telebill.db.settlement_store import ChunkOutcome, load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.domain.statuses import BillStatus, SettlementStatus
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
            first, last, members = await conn.fetchrow(
                "SELECT coalesce(min(id), 1), coalesce(max(id), 0), count(*) FROM member"
            )  # type: ignore[misc]
            run = await conn.fetchval(
                f"""
                INSERT INTO settlement (id, billing_month, status, runs, members)
                VALUES ($1, $2, '{SettlementStatus.RUNNING}', 1, $3)
                ON CONFLICT (id) DO UPDATE
                SET status = '{SettlementStatus.RUNNING}', runs = settlement.runs + 1,
                    members = excluded.members, started_at = now(), finished_at = NULL
                RETURNING runs
                """,
                settlement_id,
                billing_month,
                members,
            )
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
            started_at, members = await conn.fetchrow(
                "SELECT started_at, members FROM settlement WHERE id = $1", inp.settlement_id
            )  # type: ignore[misc]
            kinds = await conn.fetch(
                """
                SELECT i.kind, sum(i.amount) AS amount, count(*) AS n,
                       count(*) FILTER (WHERE b.created_at >= $2) AS new
                FROM bill_item i JOIN bill b ON b.id = i.bill_id
                WHERE b.billing_month = $1 GROUP BY i.kind
                """,
                month,
                started_at,
            )
            bills = await conn.fetchrow(
                f"""
                SELECT count(*) AS n, count(*) FILTER (WHERE created_at >= $2) AS new,
                       coalesce(sum(amount_due), 0) AS amount_due,
                       count(*) FILTER (WHERE status = '{BillStatus.NOTHING_DUE}') AS nothing_due,
                       (SELECT count(*) FROM settlement_error e
                         WHERE e.billing_month = $1) AS errors
                FROM bill WHERE billing_month = $1
                """,
                month,
                started_at,
            )
            assert bills is not None
            summary = SettlementSummary(
                settlement_id=inp.settlement_id,
                month=inp.month,
                members=int(members),
                bills=int(bills["n"]),
                items=sum(int(k["n"]) for k in kinds),
                errors=int(bills["errors"]),
                amount_due=int(bills["amount_due"]),
                totals={k["kind"]: int(k["amount"]) for k in kinds},
                bills_created=int(bills["new"]),
                items_created=sum(int(k["new"]) for k in kinds),
                nothing_due=int(bills["nothing_due"]),
            )
            await conn.execute(
                f"""
                UPDATE settlement SET status = '{SettlementStatus.COMPLETED}', finished_at = now(),
                    last_run_bills = $2, last_run_items = $3, bills = $4, items = $5, errors = $6,
                    amount_due = $7, totals = $8::jsonb
                WHERE id = $1
                """,
                inp.settlement_id,
                summary.bills_created,
                summary.items_created,
                summary.bills,
                summary.items,
                summary.errors,
                summary.amount_due,
                json.dumps(summary.totals),
            )
        return summary
