"""A chunk of members' month, as read from the database, priced into the COPY text of their
bills and items. Pure (no I/O) and picklable both ways, so that it runs in a process of the
settlement's pool (activities/settlement_pool.py) while the worker's event loop goes on
reading and writing the other shards' chunks.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

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

# (id, member_id, product_id, starts_on, ends_on, contract_discount, installment_months)
SubscriptionRow = tuple[int, int, int, date, date | None, bool, int | None]
# (member_id, subscription_id, data_mb, voice_sec, sms_count, micro_payment_krw)
UsageRow = tuple[int, int, int, int, int, int]


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


@dataclass(frozen=True)
class ChunkRows:
    """What the database holds of the chunk's unbilled members, as plain tuples."""

    month: date
    settlement_id: str
    members: list[tuple[int, int | None]]  # (member id, micro-payment limit), by id
    bill_ids: list[int]  # one per member, in the same order; a refused member's is not used
    subscriptions: list[SubscriptionRow]
    usage: list[UsageRow]


@dataclass
class PricedChunk:
    bill_rows: bytes  # COPY text of `bill`, BILL_COLUMNS
    item_rows: bytes  # COPY text of `bill_item`, ITEM_COLUMNS
    billed: list[int]  # the members who got a bill
    errors: list[tuple[int, str]]  # (member, reason) of those who could not be priced
    outcome: ChunkOutcome


def price_chunk(rows: ChunkRows, products: dict[int, Product]) -> PricedChunk:
    """Every member of `rows` priced; a member that cannot be is an error, not a failure."""
    bills: list[tuple[int, PricedBill]] = []
    errors: list[tuple[int, str]] = []
    for bill_id, mm in zip(rows.bill_ids, member_months(rows, products), strict=True):
        try:
            bills.append((bill_id, price_member(mm)))
        except PricingError as exc:
            errors.append((mm.member_id, str(exc)))
    return _copy_text(rows.month, rows.settlement_id, bills, errors)


def member_months(rows: ChunkRows, products: dict[int, Product]) -> list[MemberMonth]:
    subs: dict[int, list[Subscription]] = defaultdict(list)
    for sid, member, product, starts, ends, discount, months in rows.subscriptions:
        subs[member].append(
            Subscription(sid, products.get(product), product, starts, ends, discount, months)
        )
    usage: dict[int, list[Usage]] = defaultdict(list)
    for member, sid, data_mb, voice_sec, sms_count, micro in rows.usage:
        usage[member].append(Usage(sid, data_mb, voice_sec, sms_count, micro))
    return [
        MemberMonth(m, rows.month, tuple(subs[m]), tuple(usage[m]), limit)
        for m, limit in rows.members
    ]


def _copy_text(
    month: date,
    settlement_id: str,
    bills: list[tuple[int, PricedBill]],
    errors: list[tuple[int, str]],
) -> PricedChunk:
    out = ChunkOutcome(bills=len(bills), errors=len(errors))
    bill_rows = io.StringIO()
    item_rows = io.StringIO()
    for bill_id, bill in bills:
        status = BillStatus.NOTHING_DUE if bill.nothing_due else BillStatus.SETTLED
        bill_rows.write(
            f"{bill_id}\t{bill.member_id}\t{month}\t{bill.charges}\t{bill.discounts}\t"
            f"{bill.vat}\t{bill.amount_due}\t{status}\t{settlement_id}\n"
        )
        for line_no, line in enumerate(bill.lines, start=1):
            item_rows.write(
                f"{month}\t{bill_id}\t{line_no}\t{line.kind}\t{_escaped(line.label)}\t"
                f"{line.amount}\t{_snapshot_json(line.snapshot)}\n"
            )
            out.totals[line.kind] = out.totals.get(line.kind, 0) + line.amount
        out.items += len(bill.lines)
        out.amount_due += bill.amount_due
    return PricedChunk(
        bill_rows.getvalue().encode(),
        item_rows.getvalue().encode(),
        [bill.member_id for _, bill in bills],
        errors,
        out,
    )


def _escaped(value: str) -> str:
    """A value in COPY's text format (our values hold no tabs or newlines of their own)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


# One encoder for every snapshot: json.dumps with options builds a new one per call, which
# was a sixth of a chunk's pricing (py-spy and cProfile, issue 36).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _snapshot_json(snapshot: dict[str, Any]) -> str:
    """The snapshot as jsonb's COPY text. JSON has no raw tab or line break (it escapes them
    inside strings), so only its backslashes need doubling, and most snapshots have none."""
    text = _JSON(snapshot)
    return text.replace("\\", "\\\\") if "\\" in text else text
