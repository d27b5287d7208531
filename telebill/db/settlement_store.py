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
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import asyncpg

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
from telebill.domain.statuses import BillStatus

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
ITEM_COLUMNS = ("bill_id", "line_no", "kind", "label", "amount", "snapshot")
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


async def load_products(conn: DbConn, month: date) -> dict[int, Product]:
    """The catalogue with the terms in force for `month` (each product's latest `product_terms`
    row from that month or before; none: no speed limits or caps)."""
    rows = await conn.fetch(
        """
        SELECT p.id, p.code, p.kind, p.name, p.monthly_fee, p.data_mb, p.voice_sec, p.sms_count,
               p.data_rate_mkrw_per_mb, p.voice_rate_mkrw_per_sec, p.sms_rate_mkrw,
               p.device_price, p.vat_exempt,
               t.throttle_kbps, t.max_speed_kbps, t.data_overage_cap_krw
        FROM product p
        LEFT JOIN LATERAL (
            SELECT throttle_kbps, max_speed_kbps, data_overage_cap_krw
            FROM product_terms
            WHERE product_id = p.id AND effective_from <= $1
            ORDER BY effective_from DESC
            LIMIT 1
        ) t ON true
        """,
        month,
    )
    return {r["id"]: Product(**dict(r)) for r in rows}


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
                    f"{bill_id}\t{line_no}\t{line.kind}\t{_copy_text(line.label)}\t{line.amount}\t"
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
