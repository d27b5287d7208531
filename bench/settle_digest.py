"""A digest of a settled month's bills, by member, to show that two versions of the code bill
the same seeded population identically (issue 36: amounts, lines and snapshots byte for byte).

    python -m bench.settle --members 50000 --keep      # with the code before, then after
    python -m bench.settle_digest [--database telebill_bench_settle] [--month 2026-11]

Prints the number of bills, items and refusals and a SHA-256 over every bill's member,
amounts, status and lines (line number, kind, label, amount, snapshot as stored), and every
refusal's member and reason, in member order. Bill ids and the settlement's id are left out:
they depend on the order the chunks ran in, not on the pricing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib

from sqlalchemy.engine import make_url

from telebill.config import get_settings
from telebill.db.connect import connect
from telebill.domain.month import parse_month

BILLS = """
SELECT b.member_id, b.charges, b.discounts, b.vat, b.amount_due, b.status,
       (SELECT coalesce(json_agg(json_build_array(i.line_no, i.kind, i.label, i.amount,
                                                  i.snapshot::text) ORDER BY i.line_no), '[]')
        FROM bill_item i WHERE i.bill_id = b.id AND i.billing_month = b.billing_month)::text,
       (SELECT count(*) FROM bill_item i
        WHERE i.bill_id = b.id AND i.billing_month = b.billing_month)
FROM bill b WHERE b.billing_month = $1 ORDER BY b.member_id
"""
ERRORS = "SELECT member_id, reason FROM settlement_error WHERE billing_month = $1 ORDER BY 1"


async def main(database: str, month_text: str) -> None:
    settings = get_settings()
    url = make_url(settings.db_url).set(database=database).render_as_string(hide_password=False)
    conn = await connect(url)
    month = parse_month(month_text)
    digest = hashlib.sha256()
    bills = items = errors = 0
    async with conn.transaction():
        async for row in conn.cursor(BILLS, month, prefetch=5_000):
            digest.update(repr(tuple(row)[:7]).encode())
            bills, items = bills + 1, items + row[7]
        for row in await conn.fetch(ERRORS, month):
            digest.update(repr(tuple(row)).encode())
            errors += 1
    await conn.close()
    print(f"{database} {month_text}: {bills:,} bills, {items:,} items, {errors:,} refused")
    print(f"sha256 {digest.hexdigest()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="telebill_bench_settle")
    parser.add_argument("--month", default="2026-11")
    args = parser.parse_args()
    asyncio.run(main(args.database, args.month))
