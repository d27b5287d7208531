"""The templates' home: every statement on `message_template` (one row per version of a
channel's template code; one version of each code is active).

telebill/templates/store.py validates a template before it is stored and turns these rows into
the channels' `TemplateSource`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from telebill.db.connect import DbConn


@dataclass(frozen=True)
class TemplateRow:
    channel: str
    code: str
    version: int
    subject: str | None
    body: str
    active: bool
    created_at: datetime


def _row(r: asyncpg.Record) -> TemplateRow:
    return TemplateRow(
        r["channel"],
        r["code"],
        r["version"],
        r["subject"],
        r["body"],
        r["active"],
        r["created_at"],
    )


async def list_rows(conn: DbConn, channel: str | None = None) -> list[TemplateRow]:
    """Every version (of one channel's, when given), by channel, code and version."""
    rows = await conn.fetch(
        "SELECT * FROM message_template WHERE $1::text IS NULL OR channel = $1 "
        "ORDER BY channel, code, version",
        channel,
    )
    return [_row(r) for r in rows]


async def find_row(
    conn: DbConn, channel: str, code: str, version: int | None = None
) -> TemplateRow | None:
    """The given version, or (None) the active one."""
    if version is None:
        row = await conn.fetchrow(
            "SELECT * FROM message_template WHERE channel = $1 AND code = $2 AND active",
            channel,
            code,
        )
    else:
        row = await conn.fetchrow(
            "SELECT * FROM message_template WHERE channel = $1 AND code = $2 AND version = $3",
            channel,
            code,
            version,
        )
    return None if row is None else _row(row)


async def lock_template(conn: DbConn, channel: str, code: str) -> None:
    """Serialise the writers of one template until the transaction ends, so two adds cannot
    take the same version and an activation never leaves zero or two active."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{channel}:{code}")


async def insert_version(
    conn: DbConn, channel: str, code: str, subject: str | None, body: str
) -> int:
    """Store the next version, not active; under `lock_template`, in its transaction."""
    version: int = await conn.fetchval(
        "SELECT coalesce(max(version), 0) + 1 FROM message_template "
        "WHERE channel = $1 AND code = $2",
        channel,
        code,
    )
    await conn.execute(
        "INSERT INTO message_template (channel, code, version, subject, body, active) "
        "VALUES ($1, $2, $3, $4, $5, false)",
        channel,
        code,
        version,
        subject,
        body,
    )
    return int(version)


async def set_active(conn: DbConn, channel: str, code: str, version: int) -> bool:
    """Make `version` the active one; False (and none active) when there is no such version.
    Under `lock_template`, in its transaction."""
    await conn.execute(
        "UPDATE message_template SET active = false WHERE channel = $1 AND code = $2 AND active",
        channel,
        code,
    )
    done = await conn.execute(
        "UPDATE message_template SET active = true "
        "WHERE channel = $1 AND code = $2 AND version = $3",
        channel,
        code,
        version,
    )
    return bool(done == "UPDATE 1")


async def version_with_text(
    conn: DbConn, channel: str, code: str, subject: str | None, body: str
) -> int | None:
    """The version that holds exactly this text, if one does."""
    found: int | None = await conn.fetchval(
        "SELECT version FROM message_template WHERE channel = $1 AND code = $2 "
        "AND body = $3 AND subject IS NOT DISTINCT FROM $4",
        channel,
        code,
        body,
        subject,
    )
    return found


async def active_version(conn: DbConn, channel: str, code: str) -> int | None:
    found: int | None = await conn.fetchval(
        "SELECT version FROM message_template WHERE channel = $1 AND code = $2 AND active",
        channel,
        code,
    )
    return found
