"""Reads a chunk of members' month and writes their bills and items with COPY.

One transaction per chunk, under an advisory lock on (month, chunk): a chunk settled by anyone
before is found settled and skipped, member by member. A unique-key conflict (another writer that
chunked the members differently) rolls the chunk back and it is read again, so a member is never
billed twice.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

# the catalogue's, read by the settlement (and imported from here by its callers)
from telebill.db.catalogue_store import load_products as load_products
from telebill.db.connect import DbConn
from telebill.db.reference_checks import one_plan_per_reference_check
from telebill.db.settlement_copy import ChunkOutcome as ChunkOutcome
from telebill.db.settlement_copy import ChunkRows, PricedChunk, price_chunk
from telebill.domain.pricing import Product
from telebill.domain.statuses import BillStatus, SettlementStatus

BILL_COLUMNS = (
    "id",
    "member_id",
    "billing_month",
    "charges",
    "discounts",
    "vat",
    "amount_due",
    "status",
    "settlement_id",
)
ITEM_COLUMNS = ("billing_month", "bill_id", "line_no", "kind", "label", "amount", "snapshot")
CONFLICT_RETRIES = 3

# Prices a chunk's rows: in this process, or in the settlement's pool of processes
Pricer = Callable[[ChunkRows, dict[int, Product]], Awaitable[PricedChunk]]


async def price_here(rows: ChunkRows, products: dict[int, Product]) -> PricedChunk:
    return price_chunk(rows, products)


def month_lock_key(month: date) -> int:
    return month.year * 100 + month.month


async def _unbilled_members(
    conn: DbConn, month: date, first: int, last: int
) -> tuple[int, list[tuple[int, int | None]]]:
    """(members in first..last, each unbilled member's micro-payment limit, by id)."""
    rows = await conn.fetch(
        """
        SELECT m.id, m.micro_payment_limit_krw, b.member_id IS NOT NULL AS billed
        FROM member m
        -- the range on bill too: one scan of its (member_id, billing_month) index merged
        -- with the members', where a probe per member read 150 times the blocks (and the
        -- planner sent it to parallel workers)
        LEFT JOIN (SELECT member_id FROM bill WHERE billing_month = $3
                   AND member_id BETWEEN $1 AND $2) b ON b.member_id = m.id
        WHERE m.id BETWEEN $1 AND $2
        ORDER BY m.id
        """,
        first,
        last,
        month,
    )
    return len(rows), [(r[0], r[1]) for r in rows if not r[2]]


async def _chunk_rows(
    conn: DbConn,
    month: date,
    settlement_id: str,
    first: int,
    last: int,
    members: list[tuple[int, int | None]],
) -> ChunkRows:
    """The members' subscriptions and usage as plain tuples, and a bill id for each member
    (one refused by the pricing leaves its id unused: a sequence has gaps anyway)."""
    bill_ids = await conn.fetch(
        "SELECT nextval(pg_get_serial_sequence('bill', 'id')) FROM generate_series(1, $1)",
        len(members),
    )
    subscriptions = await conn.fetch(
        "SELECT id, member_id, product_id, starts_on, ends_on, contract_discount, "
        "installment_months FROM subscription WHERE member_id BETWEEN $1 AND $2",
        first,
        last,
    )
    usage = await conn.fetch(
        "SELECT member_id, subscription_id, data_mb, voice_sec, sms_count, micro_payment_krw "
        "FROM usage_monthly WHERE billing_month = $3 AND member_id BETWEEN $1 AND $2",
        first,
        last,
        month,
    )
    return ChunkRows(
        month,
        settlement_id,
        members,
        [r[0] for r in bill_ids],
        [tuple(r) for r in subscriptions],
        [tuple(r) for r in usage],
    )


async def _write(conn: DbConn, month: date, settlement_id: str, priced: PricedChunk) -> None:
    if priced.billed:
        await one_plan_per_reference_check(conn)
        # BILL first: every item refers to its bill.
        await conn.copy_to_table("bill", source=io.BytesIO(priced.bill_rows), columns=BILL_COLUMNS)
        await conn.copy_to_table(
            "bill_item", source=io.BytesIO(priced.item_rows), columns=ITEM_COLUMNS
        )
        await conn.execute(
            "DELETE FROM settlement_error "
            "WHERE billing_month = $1 AND member_id = ANY($2::bigint[])",
            month,
            priced.billed,
        )
    if priced.errors:
        await conn.executemany(
            """
            INSERT INTO settlement_error (billing_month, member_id, settlement_id, reason)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (billing_month, member_id)
            DO UPDATE SET reason = excluded.reason, settlement_id = excluded.settlement_id,
                          recorded_at = now()
            """,
            [(month, member, settlement_id, reason) for member, reason in priced.errors],
        )


async def settle_chunk(
    conn: DbConn,
    month: date,
    settlement_id: str,
    first: int,
    last: int,
    products: dict[int, Product],
    price: Pricer = price_here,
) -> ChunkOutcome:
    """Settle members first..last of `month`: whoever has no bill yet gets one (or an error)."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", month_lock_key(month), first
                )
                seen, todo = await _unbilled_members(conn, month, first, last)
                out = ChunkOutcome()
                if todo:
                    rows = await _chunk_rows(conn, month, settlement_id, first, last, todo)
                    priced = await price(rows, products)
                    await _write(conn, month, settlement_id, priced)
                    out = priced.outcome
            out.members = seen
            out.already_billed = seen - len(todo)
            return out
        except asyncpg.UniqueViolationError:
            if attempt == CONFLICT_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


# The settlement record of a month (one row per settlement id; its runs counted).


async def open_settlement(
    conn: DbConn, settlement_id: str, month: date
) -> tuple[int, int, int, int]:
    """Record a run of the settlement as running: (first member id, last member id, members,
    this run's number). A settlement run again counts one more run."""
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
        month,
        members,
    )
    return int(first), int(last), int(members), int(run)


@dataclass(frozen=True)
class MonthTotals:
    """The month's bills and items as the database holds them, whatever was retried; `new_*`:
    written since the run's start."""

    started_at: datetime
    members: int
    bills: int
    new_bills: int
    amount_due: int
    nothing_due: int
    errors: int
    items: int
    new_items: int
    totals: dict[str, int]  # line kind → sum of amounts


async def month_totals(conn: DbConn, settlement_id: str, month: date) -> MonthTotals:
    started_at, members = await conn.fetchrow(
        "SELECT started_at, members FROM settlement WHERE id = $1", settlement_id
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
    return MonthTotals(
        started_at=started_at,
        members=int(members),
        bills=int(bills["n"]),
        new_bills=int(bills["new"]),
        amount_due=int(bills["amount_due"]),
        nothing_due=int(bills["nothing_due"]),
        errors=int(bills["errors"]),
        items=sum(int(k["n"]) for k in kinds),
        new_items=sum(int(k["new"]) for k in kinds),
        totals={k["kind"]: int(k["amount"]) for k in kinds},
    )


async def complete_settlement(
    conn: DbConn,
    settlement_id: str,
    *,
    last_run_bills: int,
    last_run_items: int,
    bills: int,
    items: int,
    errors: int,
    amount_due: int,
    totals: dict[str, int],
) -> None:
    await conn.execute(
        f"""
        UPDATE settlement SET status = '{SettlementStatus.COMPLETED}', finished_at = now(),
            last_run_bills = $2, last_run_items = $3, bills = $4, items = $5, errors = $6,
            amount_due = $7, totals = $8::jsonb
        WHERE id = $1
        """,
        settlement_id,
        last_run_bills,
        last_run_items,
        bills,
        items,
        errors,
        amount_due,
        json.dumps(totals),
    )


async def settlement_record(conn: DbConn, month: date) -> asyncpg.Record | None:
    """The month's settlement row (telebill/settlement_report.py reads it), None if unsettled."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM settlement WHERE billing_month = $1", month
    )
    return row


async def latest_settled_month(conn: DbConn) -> date | None:
    found: date | None = await conn.fetchval("SELECT max(billing_month) FROM settlement")
    return found


# Bills as the templates render them (telebill/templates/bills.py builds the contexts).


async def bills_to_render(
    conn: DbConn, bill_ids: Sequence[int]
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The bills with their member's id and name, and their items in line order: two queries,
    whatever the number of bills."""
    ids = list(bill_ids)
    bills = await conn.fetch(
        "SELECT b.id, b.billing_month, b.charges, b.discounts, b.vat, b.amount_due, "
        "m.id AS member_id, m.name FROM bill b JOIN member m ON m.id = b.member_id "
        "WHERE b.id = ANY($1::bigint[])",
        ids,
    )
    items = await conn.fetch(
        "SELECT bill_id, line_no, kind, label, amount FROM bill_item "
        "WHERE bill_id = ANY($1::bigint[]) ORDER BY bill_id, line_no",
        ids,
    )
    return bills, items


async def bill_shapes(conn: DbConn) -> list[tuple[str, int]]:
    """(shape, bill id) of real settled bills of different shapes: one with nothing due, the
    one with the most items, the one with the largest amount."""
    rows = await conn.fetch(
        """
        (SELECT 'nothing due' AS shape, id FROM bill WHERE amount_due = 0 ORDER BY id LIMIT 1)
        UNION ALL
        (SELECT 'the most items', bill_id FROM bill_item
         GROUP BY bill_id ORDER BY count(*) DESC, bill_id LIMIT 1)
        UNION ALL
        (SELECT 'the largest amount', id FROM bill ORDER BY amount_due DESC, id LIMIT 1)
        """
    )
    return [(r["shape"], r["id"]) for r in rows]
