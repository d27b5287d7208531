"""The month partitions of the tables that grow with the bills (migration 0017): a month is
opened (its partitions created) by the settlement and the usage load before they write to it,
never by hand. The function that creates them runs as the schema's owner, so a process role
needs no DDL right."""

from __future__ import annotations

from dataclasses import dataclass
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


# The tables partitioned by month, as telebill_month_partitions names their partitions.
PARTITIONED = (
    "bill",
    "bill_item",
    "notification",
    "delivery_attempt",
    "usage_monthly",
    "settlement_error",
)


@dataclass(frozen=True)
class PartitionSize:
    table: str
    rows: int
    table_bytes: int  # the rows (with their TOAST)
    index_bytes: int


async def month_sizes(conn: DbConn, month: date) -> list[PartitionSize]:
    """The month's partitions on disk, table by table (none: the month is not online)."""
    sizes = []
    for table in PARTITIONED:
        part = f"{table}_{month:%Y_%m}"
        row = await conn.fetchrow(
            "SELECT pg_total_relation_size(c.oid) - pg_indexes_size(c.oid) AS data,"
            " pg_indexes_size(c.oid) AS idx FROM pg_class c WHERE c.oid = to_regclass($1)",
            part,
        )
        if row is None:
            continue
        rows = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE billing_month = $1", month)
        sizes.append(PartitionSize(table, int(rows), int(row["data"]), int(row["idx"])))
    return sizes
