"""`telebill/db/models.py` (what Alembic's autogenerate compares with) says what the migrations
make: a fresh database migrated to head and the models, compared by Alembic itself, differ in
nothing. A migration without its model change (or a model edited without a migration) fails
here, naming the difference."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from telebill.db.connect import connect
from telebill.db.models import Base
from tests.integration.conftest import Databases


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_the_migrated_schema(databases: Databases) -> None:
    url = await databases.create()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()
    assert found == [], "models.py and the migrations differ:\n" + "\n".join(map(repr, found))


async def test_models_name_the_migrated_checks(databases: Databases) -> None:
    """Alembic's comparison leaves CHECK constraints out; their names are compared here (what
    each status CHECK allows is tests/integration/test_status_checks.py's)."""
    conn = await connect(await databases.create())
    try:
        rows = await conn.fetch(
            "SELECT t.relname AS table, c.conname AS name FROM pg_constraint c "
            "JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE c.contype = 'c' AND n.nspname = 'public' AND t.relname <> 'alembic_version'"
        )
    finally:
        await conn.close()
    migrated = {(r["table"], r["name"]) for r in rows}
    modelled = {
        (table.name, str(constraint.name))
        for table in Base.metadata.tables.values()
        for constraint in table.constraints
        if isinstance(constraint, CheckConstraint)
    }
    assert migrated - modelled == set(), "CHECKs the models lack"
    assert modelled - migrated == set(), "CHECKs the migrations lack"
