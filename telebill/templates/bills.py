"""Loads the render context of many bills at once (three queries, whatever their number)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from telebill.db.connect import DbConn
from telebill.templates.context import (
    BillContext,
    BillView,
    ItemView,
    MemberView,
    due_date,
    sample_context,
)


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


async def shape_bills(conn: DbConn) -> dict[str, BillContext]:
    """Real settled bills of different shapes, to check a template against before it is stored:
    one with nothing due, the one with the most items, the one with the largest amount."""
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
    contexts = await load_contexts(conn, [r["id"] for r in rows])
    return {
        f"{r['shape']} (bill {r['id']})": contexts[r["id"]] for r in rows if r["id"] in contexts
    }


def shape_samples() -> dict[str, BillContext]:
    """Made-up bills for what real data may hold: a name EUC-KR lacks, a name that tries to add
    a mail header."""
    sample = sample_context()
    return {
        "a name EUC-KR lacks": replace(sample, member=MemberView(id=1, name="Zoë Ñúñez 😀 김민수")),
        "a name with line breaks": replace(
            sample, member=MemberView(id=1, name="김민수\r\nBcc: someone@example.com")
        ),
    }
