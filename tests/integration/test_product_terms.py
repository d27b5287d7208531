"""Catalogue terms are dated by billing month (migration 0009): a month before the terms is
priced as it was, the month they take effect with them, on real PostgreSQL."""

from __future__ import annotations

from datetime import date

from telebill.db.connect import connect
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.seed.load import seed_population
from tests.integration.conftest import Databases

OCT, NOV = date(2026, 10, 1), date(2026, 11, 1)
STANDARD_110G = 106


async def test_terms_apply_from_their_month_and_leave_earlier_months_as_they_were(
    databases: Databases,
) -> None:
    conn = await connect(await databases.create())
    try:
        for month in (OCT, NOV):
            await seed_population(conn, 50, month, None, workers=1)
        # Member 1: the 110 GB plan all along, 150,000 MB in each month.
        await conn.execute("DELETE FROM usage_monthly WHERE member_id = 1")
        await conn.execute("DELETE FROM subscription WHERE member_id = 1")
        await conn.execute(
            "INSERT INTO subscription (id, member_id, product_id, starts_on) "
            "VALUES (8, 1, $1, '2024-01-01')",
            STANDARD_110G,
        )
        for month in (OCT, NOV):
            await conn.execute(
                "INSERT INTO usage_monthly (billing_month, member_id, subscription_id, data_mb) "
                "VALUES ($1, 1, 8, 150000)",
                month,
            )
        before, after = await load_products(conn, OCT), await load_products(conn, NOV)
        assert before[STANDARD_110G].throttle_kbps is None
        assert after[STANDARD_110G].throttle_kbps == 5_000
        assert after[202].data_overage_cap_krw == 0 and 207 in after

        for month, products in ((OCT, before), (NOV, after)):
            await settle_chunk(conn, month, f"s-{month:%m}", 1, 50, products)
        lines = {
            (r["billing_month"], r["kind"]): r
            for r in await conn.fetch(
                "SELECT b.billing_month, i.kind, i.amount, i.snapshot FROM bill_item i "
                "JOIN bill b ON b.id = i.bill_id WHERE b.member_id = 1"
            )
        }
        # 37,360 MB past 110 GB at 22.53원/MB before; slowed to 5 Mbps, no charge, after.
        assert lines[(OCT, "DATA_OVERAGE")]["amount"] == 841_720
        assert (NOV, "DATA_OVERAGE") not in lines
        assert '"throttle_kbps": 5000' in lines[(NOV, "PLAN_FEE")]["snapshot"]
    finally:
        await conn.close()
