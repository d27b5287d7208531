"""Builds the render context of many bills at once (two queries of the settlements store,
whatever their number), with each member's signed link to the bill's page where the caller
builds links."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from telebill.channels.links import BillLinks
from telebill.db.connect import DbConn
from telebill.db.settlement_store import bill_shapes, bills_to_render
from telebill.rendering.context import (
    BillContext,
    BillView,
    ItemView,
    MemberView,
    due_date,
    sample_context,
)


async def load_contexts(
    conn: DbConn, bill_ids: Sequence[int], links: BillLinks | None = None
) -> dict[int, BillContext]:
    bills, rows = await bills_to_render(conn, bill_ids)
    items: dict[int, list[ItemView]] = defaultdict(list)
    for r in rows:
        items[r["bill_id"]].append(
            ItemView(line_no=r["line_no"], kind=r["kind"], label=r["label"], amount=r["amount"])
        )
    contexts = {}
    for b in bills:
        due = due_date(b["billing_month"])
        contexts[b["id"]] = BillContext(
            member=MemberView(id=b["member_id"], name=b["name"]),
            bill=BillView(
                id=b["id"],
                billing_month=b["billing_month"],
                charges=b["charges"],
                discounts=b["discounts"],
                vat=b["vat"],
                amount_due=b["amount_due"],
                due_date=due,
            ),
            items=items[b["id"]],
            link=links.web_link(b["id"], b["member_id"], due) if links else "",
        )
    return contexts


async def shape_bills(conn: DbConn) -> dict[str, BillContext]:
    """Real settled bills of different shapes, to check a template against before it is stored:
    one with nothing due, the one with the most items, the one with the largest amount."""
    shapes = await bill_shapes(conn)
    contexts = await load_contexts(conn, [bill_id for _, bill_id in shapes])
    return {
        f"{shape} (bill {bill_id})": contexts[bill_id]
        for shape, bill_id in shapes
        if bill_id in contexts
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
