"""Reads a chunk of members' month and writes their bills and items with COPY.

One transaction per chunk, under an advisory lock on (month, chunk): a chunk settled by anyone
before is found settled and skipped, member by member. A unique-key conflict (another writer that
chunked the members differently) rolls the chunk back and it is read again, so a member is never
billed twice.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

# the catalogue's, read by the settlement (and imported from here by its callers)
from telebill.db.catalogue_store import load_products as load_products
from telebill.db.connect import DbConn
from telebill.domain.pricing import (
    MemberMonth,
    PricedBill,
    PricingError,
    Product,
    Subscription,
    Usage,
    price_member,
)
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


@dataclass
class ChunkOutcome:
    members: int = 0  # members of the range looked at
    already_billed: int = 0
    bills: int = 0
    items: int = 0
    errors: int = 0
    amount_due: int = 0
    totals: dict[str, int] = field(default_factory=dict)  # line kind → sum of amounts

    def add(self, other: ChunkOutcome) -> None:
        self.members += other.members
        self.already_billed += other.already_billed
        self.bills += other.bills
        self.items += other.items
        self.errors += other.errors
        self.amount_due += other.amount_due
        for kind, amount in other.totals.items():
            self.totals[kind] = self.totals.get(kind, 0) + amount


def month_lock_key(month: date) -> int:
    return month.year * 100 + month.month


async def _unbilled_members(
    conn: DbConn, month: date, first: int, last: int
) -> tuple[int, dict[int, int]]:
    """(members in first..last, each unbilled member's micro-payment limit)."""
    rows = await conn.fetch(
        """
        SELECT m.id, m.micro_payment_limit_krw, b.id IS NOT NULL AS billed
        FROM member m
        LEFT JOIN bill b ON b.member_id = m.id AND b.billing_month = $3
        WHERE m.id BETWEEN $1 AND $2
        ORDER BY m.id
        """,
        first,
        last,
        month,
    )
    return len(rows), {r["id"]: r["micro_payment_limit_krw"] for r in rows if not r["billed"]}


async def _member_months(
    conn: DbConn,
    month: date,
    first: int,
    last: int,
    members: dict[int, int],
    products: dict[int, Product],
) -> list[MemberMonth]:
    subs: dict[int, list[Subscription]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT id, member_id, product_id, starts_on, ends_on, contract_discount, "
        "installment_months FROM subscription WHERE member_id BETWEEN $1 AND $2",
        first,
        last,
    ):
        subs[r["member_id"]].append(
            Subscription(
                r["id"],
                products.get(r["product_id"]),
                r["product_id"],
                r["starts_on"],
                r["ends_on"],
                r["contract_discount"],
                r["installment_months"],
            )
        )
    usage: dict[int, list[Usage]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT member_id, subscription_id, data_mb, voice_sec, sms_count, micro_payment_krw "
        "FROM usage_monthly WHERE billing_month = $3 AND member_id BETWEEN $1 AND $2",
        first,
        last,
        month,
    ):
        usage[r["member_id"]].append(
            Usage(
                r["subscription_id"],
                r["data_mb"],
                r["voice_sec"],
                r["sms_count"],
                r["micro_payment_krw"],
            )
        )
    return [
        MemberMonth(m, month, tuple(subs[m]), tuple(usage[m]), limit)
        for m, limit in members.items()
    ]


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format (our values hold no tabs or newlines of their own)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _snapshot_json(snapshot: dict[str, Any]) -> str:
    return _copy_text(json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")))


async def _write(
    conn: DbConn,
    month: date,
    settlement_id: str,
    bills: list[PricedBill],
    errors: list[tuple[int, str]],
) -> ChunkOutcome:
    out = ChunkOutcome()
    if bills:
        ids = [
            r[0]
            for r in await conn.fetch(
                "SELECT nextval(pg_get_serial_sequence('bill', 'id')) FROM generate_series(1, $1)",
                len(bills),
            )
        ]
        bill_rows = io.StringIO()
        item_rows = io.StringIO()
        for bill_id, bill in zip(ids, bills, strict=True):
            status = BillStatus.NOTHING_DUE if bill.nothing_due else BillStatus.SETTLED
            bill_rows.write(
                f"{bill_id}\t{bill.member_id}\t{month}\t{bill.charges}\t{bill.discounts}\t"
                f"{bill.vat}\t{bill.amount_due}\t{status}\t{settlement_id}\n"
            )
            for line_no, line in enumerate(bill.lines, start=1):
                item_rows.write(
                    f"{month}\t{bill_id}\t{line_no}\t{line.kind}\t{_copy_text(line.label)}\t{line.amount}\t"
                    f"{_snapshot_json(line.snapshot)}\n"
                )
                out.totals[line.kind] = out.totals.get(line.kind, 0) + line.amount
            out.items += len(bill.lines)
            out.amount_due += bill.amount_due
        # BILL first: every item refers to its bill.
        await conn.copy_to_table(
            "bill", source=io.BytesIO(bill_rows.getvalue().encode()), columns=BILL_COLUMNS
        )
        await conn.copy_to_table(
            "bill_item", source=io.BytesIO(item_rows.getvalue().encode()), columns=ITEM_COLUMNS
        )
        out.bills = len(bills)
        await conn.execute(
            "DELETE FROM settlement_error "
            "WHERE billing_month = $1 AND member_id = ANY($2::bigint[])",
            month,
            [b.member_id for b in bills],
        )
    if errors:
        await conn.executemany(
            """
            INSERT INTO settlement_error (billing_month, member_id, settlement_id, reason)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (billing_month, member_id)
            DO UPDATE SET reason = excluded.reason, settlement_id = excluded.settlement_id,
                          recorded_at = now()
            """,
            [(month, member, settlement_id, reason) for member, reason in errors],
        )
        out.errors = len(errors)
    return out


async def settle_chunk(
    conn: DbConn,
    month: date,
    settlement_id: str,
    first: int,
    last: int,
    products: dict[int, Product],
) -> ChunkOutcome:
    """Settle members first..last of `month`: whoever has no bill yet gets one (or an error)."""
    for attempt in range(CONFLICT_RETRIES):
        try:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", month_lock_key(month), first
                )
                seen, todo = await _unbilled_members(conn, month, first, last)
                bills: list[PricedBill] = []
                errors: list[tuple[int, str]] = []
                if todo:
                    for mm in await _member_months(conn, month, first, last, todo, products):
                        try:
                            bills.append(price_member(mm))
                        except PricingError as exc:
                            errors.append((mm.member_id, str(exc)))
                out = await _write(conn, month, settlement_id, bills, errors)
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
