"""The month's counts the database keeps as its rows change (migration 0019): read (the folded
counts plus the deltas not folded yet), folded (the worker, every 30 s), reset for a month
whose rows are put back (a restore counts them again as it inserts them). The worker folds every
30 s."""

from __future__ import annotations

from datetime import date

from telebill.db.connect import DbConn


async def month_tally(conn: DbConn, month: date) -> dict[str, int]:
    """key → count for the month: `bill`, a monthly notification's status, or a pending one's
    phase (`PENDING:planned|scheduled|published`, `:problem` when it found no instant)."""
    rows = await conn.fetch(
        "SELECT key, sum(n)::bigint AS n FROM ("
        " SELECT key, n FROM month_tally WHERE billing_month = $1"
        " UNION ALL SELECT key, n FROM month_tally_delta WHERE billing_month = $1) AS t"
        " GROUP BY key",
        month,
    )
    return {r["key"]: int(r["n"]) for r in rows if r["n"]}


async def fold(conn: DbConn) -> int:
    """Fold the deltas into the counts; returns how many delta rows were folded (0: another
    folder holds the lock, or there was nothing)."""
    folded: int = await conn.fetchval("SELECT telebill_fold_tally()")
    return folded


async def reset_month(conn: DbConn, month: date) -> None:
    """Forget the month's counts (inside the transaction that puts its rows back), after any
    fold in progress (a fold adding a count this does not see would survive it)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('telebill_fold_tally'))")
    await conn.execute("DELETE FROM month_tally WHERE billing_month = $1", month)
    await conn.execute("DELETE FROM month_tally_delta WHERE billing_month = $1", month)
