"""Least privilege in PostgreSQL (telebill/db/roles.py): each process's role holds exactly the
grants written for it, cannot reach what it does not need, cannot migrate; the local stack's
passwords are generated and private; the API process connects as its role."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator

import asyncpg
import pytest

from telebill.config import Settings, asyncpg_dsn
from telebill.credentials import credentials_file
from telebill.db.migrate import ensure_schema_as
from telebill.db.roles import GRANTS, HIDDEN_COLUMNS, OWNER_ONLY, PROCESS_ROLES
from telebill.domain.db_roles import DbRole
from telebill.errors import SchemaBehind
from telebill.stack.postgres import LEGACY_PASSWORD, SUPERUSER
from tests.helpers import other_clients
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import prepare

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@pytest.fixture
async def installation(databases: Databases, settings: Settings) -> Settings:
    return settings.beside("roles", await databases.create())


@pytest.fixture
async def owner(installation: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(installation.db_url))
    yield conn
    await conn.close()


async def as_role(s: Settings, role: DbRole) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(s.db_url_for(role)))


async def test_each_role_holds_exactly_its_grants(
    installation: Settings, owner: asyncpg.Connection
) -> None:
    tables = set(
        await owner.fetchval(
            # the tables, not the month partitions (reached through their table only)
            "SELECT array_agg(c.relname::text) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " AND NOT c.relispartition"
        )
    )
    named = set().union(*(GRANTS[role] for role in PROCESS_ROLES))
    # a new table is a decision: some role's grant, or the owner's alone
    assert tables == named | OWNER_ONLY, "write the new table's grants in telebill/db/roles.py"
    for role in PROCESS_ROLES:
        for table in sorted(tables):
            allowed = {p.strip() for p in GRANTS[role].get(table, "").split(",") if p.strip()}
            held = {
                p
                for p in PRIVILEGES
                if await owner.fetchval(
                    "SELECT has_table_privilege($1, $2, $3)", role.login, table, p
                )
            }
            hidden = HIDDEN_COLUMNS.get(role, {}).get(table)
            if hidden:  # read by its columns, but those
                assert held == set(), (role, table)
                for column in await owner.fetch(
                    "SELECT column_name::text AS c FROM information_schema.columns"
                    " WHERE table_schema = 'public' AND table_name = $1",
                    table,
                ):
                    readable = await owner.fetchval(
                        "SELECT has_column_privilege($1, $2, $3, 'SELECT')",
                        role.login,
                        table,
                        column["c"],
                    )
                    assert readable == (column["c"] not in hidden), (role, table, column["c"])
                continue
            assert held == allowed, (role, table)


@pytest.mark.parametrize(
    ("role", "statement"),
    [
        (DbRole.CONSUMER, "SELECT * FROM api_user"),
        (DbRole.CONSUMER, "SELECT * FROM console_session"),
        (DbRole.WORKER, "SELECT * FROM api_user"),
        (DbRole.WORKER, "SELECT * FROM audit_log"),
        (DbRole.API, "DROP TABLE bill"),
        (DbRole.API, "TRUNCATE notification"),
        (DbRole.API, "DELETE FROM audit_log"),  # the audit is append-only, even for the API
        (DbRole.API, "UPDATE audit_log SET actor = 'nobody'"),
        (DbRole.API, "INSERT INTO api_user (name, role, token_sha256) VALUES ('x', 'admin', 'x')"),
        (DbRole.API, "CREATE TABLE mine (id int)"),
        (DbRole.WORKER, "ALTER TABLE bill ADD COLUMN x int"),
        (DbRole.WORKER, "SELECT email FROM member"),  # it plans without the contacts
        (DbRole.WORKER, "SELECT * FROM member"),
        (DbRole.CONSUMER, "UPDATE member SET email = 'a@b.example'"),
    ],
)
async def test_what_a_role_does_not_need_it_cannot_do(
    installation: Settings, role: DbRole, statement: str
) -> None:
    conn = await as_role(installation, role)
    try:
        assert await conn.fetchval("SELECT current_user") == role.login
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_process_role_waits_for_the_migration_instead_of_running_it(
    databases: Databases, settings: Settings
) -> None:
    empty = settings.beside("unmigrated", await databases.create(migrated=False))
    for role in PROCESS_ROLES:
        with pytest.raises(SchemaBehind, match="telebill db migrate"):
            await ensure_schema_as(empty, role)
    assert await ensure_schema_as(empty, DbRole.OWNER) == empty.db_url  # the owner migrates
    for role in PROCESS_ROLES:
        assert await ensure_schema_as(empty, role) == empty.db_url_for(role)


async def test_the_stacks_passwords_are_generated_and_private(settings: Settings) -> None:
    path = credentials_file(settings.stack_dir)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(asyncpg.InvalidPasswordError):  # the fixed password of old is gone
        await asyncpg.connect(
            f"postgresql://{SUPERUSER}:{LEGACY_PASSWORD}@127.0.0.1:{settings.pg_port}/postgres"
        )
    urls = {settings.db_url_for(role) for role in DbRole}
    assert len(urls) == len(DbRole), "each process its own login"
    owner = await asyncpg.connect(asyncpg_dsn(settings.db_url))
    try:
        assert not await owner.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await owner.close()


async def test_the_api_process_connects_as_its_role(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 3)
    async with api_server(stack, "roles") as api, api.client() as anon:
        assert (await anon.get("/api/health")).status_code == 200
        assert await other_clients(stack.conn) == {DbRole.API.login}
