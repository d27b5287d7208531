"""Alembic environment: async engine (asyncpg), one migrator at a time (advisory lock)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from telebill.db.models import Base
from telebill.db.roles import FUNCTIONS, grant_statements

# Any constant works; it only has to be the same for every migrator of this database.
MIGRATION_LOCK_KEY = 0x7E1EB111


def run_with_connection(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    # Two `telebill db migrate` at once (several workers starting) must not both run DDL.
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    with context.begin_transaction():
        context.run_migrations()
        apply_grants(connection)


def apply_grants(connection: Connection) -> None:
    """Each process role's privileges, as telebill/db/roles.py has them, after every upgrade
    (also one that had nothing to migrate, so a changed grant needs only `telebill db migrate`)."""
    roles = connection.execute(text("SELECT rolname FROM pg_roles")).scalars().all()
    serials = connection.execute(
        text(
            "SELECT t.relname, s.relname FROM pg_class s"
            " JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " JOIN pg_namespace n ON n.oid = s.relnamespace"
            " WHERE s.relkind = 'S' AND n.nspname = 'public'"
        )
    ).all()
    sequences: dict[str, list[str]] = {}
    for table, sequence in serials:
        sequences.setdefault(table, []).append(sequence)
    columns: dict[str, list[str]] = {}
    for table, column in connection.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
    ).all():
        columns.setdefault(table, []).append(column)
    signatures = sorted({f for fs in FUNCTIONS.values() for f in fs})
    functions = [
        f
        for f in signatures
        if connection.execute(text("SELECT to_regprocedure(:f)"), {"f": f}).scalar() is not None
    ]
    for statement in grant_statements(roles, sequences, columns, functions):
        connection.execute(text(statement))


async def run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_with_connection)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(run_online())
