"""Catalogue terms are dated by billing month (migration 0009): a month before the terms is
priced as it was, the month they take effect with them, on real PostgreSQL."""

from __future__ import annotations

from datetime import date

from telebill.amount_figures import read_amount_figures
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


async def test_the_month_counts_each_slowed_or_capped_plan_once(databases: Databases) -> None:
    """Three members whose truth is known: a 110 GB plan with 선택약정 past its allowance
    (slowed; its discount line carries the same data note), an LTE plan with 선택약정 and
    데이터 안심옵션 past its allowance (overage waived), and a plan within its allowance. The
    report counts plans, not the lines that mention them (it showed 276 for 183 plans)."""
    conn = await connect(await databases.create())
    try:
        await seed_population(conn, 3, NOV, None, workers=1)
        await conn.execute("DELETE FROM usage_monthly")
        await conn.execute("DELETE FROM subscription")
        await conn.executemany(
            "INSERT INTO subscription (id, member_id, product_id, starts_on, contract_discount) "
            "VALUES ($1, $2, $3, '2024-01-01', $4)",
            [(1, 1, STANDARD_110G, True), (2, 2, 104, True), (3, 2, 202, False),
             (4, 3, STANDARD_110G, False)],
        )  # fmt: skip
        await conn.executemany(
            "INSERT INTO usage_monthly (billing_month, member_id, subscription_id, data_mb) "
            "VALUES ($1, $2, $3, $4)",
            [(NOV, 1, 1, 150_000), (NOV, 2, 2, 3_560), (NOV, 3, 4, 1_000)],
        )
        await settle_chunk(conn, NOV, "s-11", 1, 3, await load_products(conn, NOV))
        noted = await conn.fetchval(
            "SELECT count(*) FROM bill_item WHERE snapshot -> 'data' ?| array['throttle_kbps', "
            "'capped_by']"
        )
        assert noted == 4  # each plan's fee line and its discount line
        figures = await read_amount_figures(conn, NOV)
        assert figures is not None and figures.bills == 3
        assert (figures.throttled_plans, figures.capped_overages) == (1, 1)
    finally:
        await conn.close()
