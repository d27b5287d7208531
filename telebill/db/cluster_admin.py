"""The statements that look after the PostgreSQL cluster rather than the application's tables:
roles, databases, ownership, passwords (telebill/stack/postgres.py and temporal_server.py, as
the stack's superuser), and the smoke check's round trip. Nothing here reads or writes a table
of the schema."""

from __future__ import annotations

import asyncpg


async def answers(conn: asyncpg.Connection) -> bool:
    """The server runs queries."""
    return bool(await conn.fetchval("SELECT 1") == 1)


async def role_exists(conn: asyncpg.Connection, role: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role))


async def ensure_login_role(conn: asyncpg.Connection, role: str, *, createdb: bool) -> None:
    """The role exists, may log in, is no superuser, and may create databases iff `createdb`
    (names come from telebill/db/roles.py, never from input: DDL takes no parameters)."""
    extra = "CREATEDB" if createdb else "NOCREATEDB"
    if not await role_exists(conn, role):
        await conn.execute(f'CREATE ROLE "{role}" LOGIN {extra}')
    await conn.execute(f'ALTER ROLE "{role}" LOGIN NOSUPERUSER {extra}')


async def set_password(conn: asyncpg.Connection, role: str, password: str) -> None:
    """ALTER ROLE … PASSWORD with both quoted by the server (no DDL parameters in PostgreSQL)."""
    statement = await conn.fetchval(
        "SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)", role, password
    )
    await conn.execute(statement)


async def grant_signal_backend(conn: asyncpg.Connection, role: str) -> None:
    """Lets `role` end other sessions (the tests drop their databases WITH (FORCE))."""
    await conn.execute(f'GRANT pg_signal_backend TO "{role}"')


async def database_owner(conn: asyncpg.Connection, database: str) -> str | None:
    """The owner of `database`, None when there is no such database."""
    owner: str | None = await conn.fetchval(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", database
    )
    return owner


async def database_exists(conn: asyncpg.Connection, database: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))


async def create_database(
    conn: asyncpg.Connection, database: str, owner: str | None = None
) -> None:
    if owner is None:
        await conn.execute(f"CREATE DATABASE {database}")
    else:
        await conn.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')


async def set_database_owner(conn: asyncpg.Connection, database: str, owner: str) -> None:
    await conn.execute(f'ALTER DATABASE "{database}" OWNER TO "{owner}"')


async def hand_relations_to(conn: asyncpg.Connection, owner: str) -> None:
    """Tables, views and materialized views of the public schema that `owner` does not own
    become its (a table's serial sequences go with it)."""
    rows = await conn.fetch(
        "SELECT c.relname, c.relkind FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')"
        " AND pg_get_userbyid(c.relowner) <> $1",
        owner,
    )
    for row in rows:
        kind = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(row["relkind"], "TABLE")
        await conn.execute(f'ALTER {kind} "{row["relname"]}" OWNER TO "{owner}"')


async def echo(conn: asyncpg.Connection, token: str) -> str:
    """Write a row and read it back, in a temporary table dropped at commit (the smoke check
    leaves nothing behind)."""
    async with conn.transaction():
        await conn.execute("CREATE TEMP TABLE smoke_echo (token text) ON COMMIT DROP")
        await conn.execute("INSERT INTO smoke_echo (token) VALUES ($1)", token)
        return str(await conn.fetchval("SELECT token FROM smoke_echo"))
