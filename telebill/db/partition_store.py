"""The month partitions of the tables that grow with the bills (migration 0017): a month is
opened (its partitions created) by the settlement and the usage load before they write to it,
never by hand. The function that creates them runs as the schema's owner, so a process role
needs no DDL right."""

from __future__ import annotations

from datetime import date

from telebill.db.connect import DbConn
from telebill.domain.month import next_month


async def open_month(conn: DbConn, month: date) -> int:
    """Create `month`'s partitions where missing; returns how many were created (0: all there).

    Run it outside a longer transaction: creating a partition locks its parent table until the
    commit, and a transaction that goes on would hold every reader of that table meanwhile."""
    made: int = await conn.fetchval("SELECT telebill_month_partitions($1)", month)
    return made


async def open_months_from(conn: DbConn, month: date, ahead: int = 1) -> int:
    """`month` and the `ahead` months after it: the next month's usage can be loaded as soon as
    this one is settled."""
    made = 0
    for _ in range(ahead + 1):
        made += await open_month(conn, month)
        month = next_month(month)
    return made
