"""What the seeded population's bills look like, next to published Korean figures.

    python -m bench.bill_amounts [--members 50000] [--month 2026-11] [--keep]

Seeds and settles N members in a database of its own (telebill_bench_amounts) and prints the
spread of the amounts due (mean, median, p90, p99, largest), the same without device instalments
and micro-payments, the bills above 400,000원 that those two do not explain, items per bill, the
members refused and why, and how many lines were pro-rated, throttled or capped.
"""

from __future__ import annotations

from bench.common import deliverable_month, drop_database, run_bench
from bench.figures import Figure, Goal, record
from telebill.amount_figures import HIGH_BILL, read_amount_figures
from telebill.config import get_settings
from telebill.domain.month import parse_month

BENCH_DB = "telebill_bench_amounts"
AIMS = (  # what a Korean operator's bills look like (design section 4)
    ("mean", "60,000–100,000원 with devices"),
    ("median", "60,000–100,000원 with devices"),
    ("p99", "well under 400,000원"),
)


async def main(members: int, month: str, keep: bool) -> None:
    settings = get_settings()
    _, conn = await deliverable_month(settings, BENCH_DB, members, month)
    try:
        figures = await read_amount_figures(conn, parse_month(month))
        assert figures is not None
        items = await conn.fetchval("SELECT count(*) FROM bill_item")
        errors = await conn.fetch(
            "SELECT reason, count(*) AS n FROM settlement_error GROUP BY 1 ORDER BY 2 DESC"
        )
    finally:
        await conn.close()
        if not keep:
            await drop_database(settings, BENCH_DB)
    f = figures.as_dict()
    aims = dict(AIMS)
    print(f"\n{figures.bills:,} bills of {month}, {items / figures.bills:.2f} items per bill")
    for key in ("mean", "median", "p90", "p99", "largest"):
        aim = f"   (aim: {aims[key]})" if key in aims else ""
        print(f"  {key:<8} {f[key]:>12,}원{aim}")
    print("  without device instalments and micro-payments:")
    print(f"    p99      {figures.p99_without_device_and_micro:>10,}원")
    print(f"    largest  {figures.largest_without_device_and_micro:>10,}원")
    print(f"    above {HIGH_BILL:,}원: {figures.high_without_explanation:,} bills   (aim: 0)")
    print(
        f"  pro-rated lines {figures.prorated_lines:,}, throttled plans "
        f"{figures.throttled_plans:,}, capped overages {figures.capped_overages:,}"
    )
    print(f"  refused members: {sum(r['n'] for r in errors):,}")
    for r in errors[:5]:
        print(f"    {r['n']:>6,}  {r['reason']}")
    typical = Goal(60_000, 100_000)
    for key, goal in (("mean", typical), ("median", typical), ("p99", Goal(high=HIGH_BILL))):
        name = f"{key} amount due, {members:,} bills of {month}"
        record(Figure("bill_amounts", name, f[key], "원", goal=goal))
    record(
        Figure(
            "bill_amounts",
            f"bills above {HIGH_BILL:,}원 without device instalments or micro-payments",
            figures.high_without_explanation,
            "bills",
            goal=Goal(high=0),
        )
    )


if __name__ == "__main__":
    run_bench(main, __doc__, members=50_000)
