"""Loads the render context of many bills at once (three queries, whatever their number)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from telebill.db.connect import DbConn
from telebill.templates.context import BillContext, BillView, ItemView, MemberView, due_date


async def load_contexts(conn: DbConn, bill_ids: Sequence[int]) -> dict[int, BillContext]:
    ids = list(bill_ids)
    bills = await conn.fetch(
        "SELECT b.id, b.billing_month, b.charges, b.discounts, b.vat, b.amount_due, "
        "m.id AS member_id, m.name FROM bill b JOIN member m ON m.id = b.member_id "
        "WHERE b.id = ANY($1::bigint[])",
        ids,
    )
    items: dict[int, list[ItemView]] = defaultdict(list)
    for r in await conn.fetch(
        "SELECT bill_id, line_no, kind, label, amount FROM bill_item "
        "WHERE bill_id = ANY($1::bigint[]) ORDER BY bill_id, line_no",
        ids,
    ):
        items[r["bill_id"]].append(
            ItemView(line_no=r["line_no"], kind=r["kind"], label=r["label"], amount=r["amount"])
        )
    return {
        b["id"]: BillContext(
            member=MemberView(id=b["member_id"], name=b["name"]),
            bill=BillView(
                id=b["id"],
                billing_month=b["billing_month"],
                charges=b["charges"],
                discounts=b["discounts"],
                vat=b["vat"],
                amount_due=b["amount_due"],
                due_date=due_date(b["billing_month"]),
            ),
            items=items[b["id"]],
        )
        for b in bills
    }
