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
    refer to a partitioned table (`SET LOCAL` ends with the transaction, the outer one where
    this runs in a savepoint, so the connection's other queries keep PostgreSQL's own choice
    between plans; `planners_choice_again` ends it sooner).

    The one plan is made at the first check of the write and kept for all its rows, so it must
    not depend on how many rows the month held when it was made: planned while a partition is
    small (a first chunk) or believed empty (vacuumed before its month was written), a scan of
    the whole partition costs less than the primary key's index, and each later check would read
    every bill of the month. Sequential and bitmap scans are therefore ruled out while these
    settings last; the statements that run meanwhile are key lookups (the checks, the joins of a
    page of keys to their bills or notifications), for which the index is right at any size.
    Migration 0022 removed the one other index the check could have used."""
    await conn.execute(
        "SET LOCAL plan_cache_mode = force_generic_plan; "
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; "
        # a plan the connection cached before (PostgreSQL's own choice for a single-row write,
        # made while the month was small) would be kept as the one plan: made again, now
        "DISCARD PLANS"
    )


async def planners_choice_again(conn: DbConn) -> None:
    """Undo `one_plan_per_reference_check` for the rest of the transaction: for a caller
    whose later statements need PostgreSQL's own choice (a count of a whole month is a
    sequential scan). `SET LOCAL` inside a savepoint would outlive the savepoint's release."""
    await conn.execute("RESET plan_cache_mode; RESET enable_seqscan; RESET enable_bitmapscan")
