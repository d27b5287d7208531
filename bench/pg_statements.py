"""PostgreSQL's own account of where its time went, by statement (pg_stat_statements).

The stack's server preloads the module where its package has it (telebill/stack/postgres.py);
elsewhere these helpers say so and the benchmark goes on without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

_TOP = """
SELECT query, calls, plans, total_exec_time, total_plan_time, rows, shared_blks_hit,
       shared_blks_read, shared_blks_dirtied, blk_read_time, wal_bytes
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time + total_plan_time DESC
"""


@dataclass(frozen=True)
class Statement:
    text: str
    calls: int
    plans: int
    exec_s: float
    plan_s: float
    rows: int
    blocks_hit: int
    blocks_read: int
    blocks_dirtied: int
    read_s: float
    wal_mib: float

    @property
    def total_s(self) -> float:
        return self.exec_s + self.plan_s


async def start(conn: asyncpg.Connection) -> bool:
    """Start counting, on a superuser's connection to the database measured (only
    it sees every role's statements). False where the server does not load the module, and
    nothing is counted.

    The database's sessions that start after this also count the statements run inside
    others (a foreign key's check inside the COPY that fires it) and their planning."""
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        name = await conn.fetchval("SELECT quote_ident(current_database())")
        await conn.execute(f"ALTER DATABASE {name} SET pg_stat_statements.track = 'all'")
        await conn.execute(f"ALTER DATABASE {name} SET pg_stat_statements.track_planning = on")
        await reset(conn)
    except asyncpg.PostgresError:
        return False
    return True


async def reset(conn: asyncpg.Connection) -> None:
    """Count from zero (on the connection `start` was given)."""
    await conn.execute("SELECT pg_stat_statements_reset()")


async def top(conn: asyncpg.Connection) -> list[Statement]:
    """Every statement run in this database since `reset`, the costliest first (a nested
    statement's time is also in the one that ran it)."""
    return [
        Statement(
            text=" ".join(r["query"].split()),
            calls=r["calls"],
            plans=r["plans"],
            exec_s=r["total_exec_time"] / 1000,
            plan_s=r["total_plan_time"] / 1000,
            rows=r["rows"],
            blocks_hit=r["shared_blks_hit"],
            blocks_read=r["shared_blks_read"],
            blocks_dirtied=r["shared_blks_dirtied"],
            read_s=r["blk_read_time"] / 1000,
            wal_mib=float(r["wal_bytes"]) / 2**20,
        )
        for r in await conn.fetch(_TOP)
    ]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def report(statements: list[Statement], shown: int = 10, width: int = 70) -> str:
    """The costliest statements as a table, and the sum of all of them."""
    total = sum(s.total_s for s in statements)
    lines = [
        f"PostgreSQL's statements: {total:.1f} s in all, {sum(s.calls for s in statements):,} "
        "calls (pg_stat_statements; time in the server, CPU and waits)",
        f"  {'s':>7} {'share':>6} {'calls':>9} {'plans':>9} {'rows':>11} {'read s':>7} "
        f"{'WAL MiB':>8}"
        "  statement",
    ]
    for s in statements[:shown]:
        lines.append(
            f"  {s.total_s:7.1f} {s.total_s / max(total, 1e-9):6.1%} {s.calls:9,} {s.plans:9,} "
            f"{s.rows:11,} "
            f"{s.read_s:7.1f} {s.wal_mib:8,.0f}  {_short(s.text, width)}"
        )
    return "\n".join(lines)
