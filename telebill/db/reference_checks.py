"""Foreign keys into a table partitioned by month, checked with one plan instead of one per row.

PostgreSQL checks every inserted row's foreign key with a cached query of its own
(`SELECT 1 FROM bill x WHERE id = $1 AND billing_month = $2 FOR KEY SHARE OF x`). When the
referenced table is partitioned, the plan cache weighs one plan over every month's partition
against planning each row's check for its own month. The next month's partitions, opened just
before the settlement and never vacuumed, are costed as if they held ten pages, so the plan over
every month always looks dearer, and the check is planned again for each row: at 50,000 members
243,689 plans for 243,686 items, 39% of PostgreSQL's time and the item COPY five times the raw
COPY of the same rows (pg_stat_statements and perf, issue 36). The plan over every month prunes
to the row's own month when it runs, so forcing it changes nothing but the planning.
"""

from __future__ import annotations

from telebill.db.connect import DbConn


async def one_plan_per_reference_check(conn: DbConn) -> None:
    """For the rest of the current transaction: call inside one, before writing many rows that
    refer to a partitioned table (`SET LOCAL` ends with the transaction, so the connection's
    other queries keep PostgreSQL's own choice between plans)."""
    await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
