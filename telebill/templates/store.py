"""Template versions in PostgreSQL: every change is a new version; one version is active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from telebill.channels import channel, channels
from telebill.channels.base import DEFAULT_CODE, TemplateSource
from telebill.db.connect import DbConn
from telebill.errors import NotFound, TelebillError
from telebill.templates.bills import shape_bills, shape_samples
from telebill.templates.render import TemplateInvalid


@dataclass(frozen=True)
class StoredTemplate:
    source: TemplateSource
    active: bool
    created_at: datetime


def _stored(r: asyncpg.Record) -> StoredTemplate:
    source = TemplateSource(r["channel"], r["code"], r["version"], r["subject"], r["body"])
    return StoredTemplate(source, r["active"], r["created_at"])


async def list_templates(conn: DbConn, channel_name: str | None = None) -> list[StoredTemplate]:
    rows = await conn.fetch(
        "SELECT * FROM message_template WHERE $1::text IS NULL OR channel = $1 "
        "ORDER BY channel, code, version",
        channel_name,
    )
    return [_stored(r) for r in rows]


async def get_template(
    conn: DbConn, channel_name: str, code: str = DEFAULT_CODE, version: int | None = None
) -> TemplateSource:
    """The given version, or the active one."""
    if version is None:
        row = await conn.fetchrow(
            "SELECT * FROM message_template WHERE channel = $1 AND code = $2 AND active",
            channel_name,
            code,
        )
        missing = (
            f"no active {channel_name} template {code!r} (`telebill templates install-defaults`)"
        )
    else:
        row = await conn.fetchrow(
            "SELECT * FROM message_template WHERE channel = $1 AND code = $2 AND version = $3",
            channel_name,
            code,
            version,
        )
        missing = f"{channel_name} template {code!r} has no version {version}"
    if row is None:
        raise NotFound(missing)
    return _stored(row).source


async def add_template(
    conn: DbConn,
    channel_name: str,
    code: str,
    subject: str | None,
    body: str,
    activate: bool = False,
) -> int:
    """Validate, then store as the next version; the first version of a template is active."""
    ch = channel(channel_name)
    if ch.has_subject and not (subject or "").strip():
        raise TelebillError(f"a {channel_name} template needs a subject")
    source = TemplateSource(channel_name, code, 0, subject if ch.has_subject else None, body)
    ch.validate(source)
    shapes = {**shape_samples(), **await shape_bills(conn)}
    for shape, context in shapes.items():
        try:
            ch.render(source, context)
        except TemplateInvalid as exc:
            raise TemplateInvalid(f"with {shape}: {exc}") from None
    async with conn.transaction():
        # Serialise writers of this template so two adds cannot take the same version.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{channel_name}:{code}")
        version = await conn.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM message_template "
            "WHERE channel = $1 AND code = $2",
            channel_name,
            code,
        )
        await conn.execute(
            "INSERT INTO message_template (channel, code, version, subject, body, active) "
            "VALUES ($1, $2, $3, $4, $5, false)",
            channel_name,
            code,
            version,
            subject if ch.has_subject else None,
            body,
        )
        if activate or version == 1:
            await _activate(conn, channel_name, code, version)
    return int(version)


async def _activate(conn: DbConn, channel_name: str, code: str, version: int) -> None:
    await conn.execute(
        "UPDATE message_template SET active = false WHERE channel = $1 AND code = $2 AND active",
        channel_name,
        code,
    )
    done = await conn.execute(
        "UPDATE message_template SET active = true "
        "WHERE channel = $1 AND code = $2 AND version = $3",
        channel_name,
        code,
        version,
    )
    if done != "UPDATE 1":
        raise TelebillError(f"{channel_name} template {code!r} has no version {version}")


async def activate(conn: DbConn, channel_name: str, code: str, version: int) -> None:
    """Make `version` the active one (in one transaction: never zero, never two active)."""
    channel(channel_name)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{channel_name}:{code}")
        await _activate(conn, channel_name, code, version)


async def install_defaults(conn: DbConn) -> list[str]:
    """Store each channel's shipped template unless that exact text is already a version."""
    said = []
    for name, ch in sorted(channels().items()):
        default = ch.default_template()
        same = await conn.fetchval(
            "SELECT version FROM message_template WHERE channel = $1 AND code = $2 "
            "AND body = $3 AND subject IS NOT DISTINCT FROM $4",
            name,
            default.code,
            default.body,
            default.subject,
        )
        if same is not None:
            said.append(f"{name}/{default.code}: default already stored as version {same}")
            continue
        has_active = await conn.fetchval(
            "SELECT count(*) FROM message_template WHERE channel = $1 AND code = $2 AND active",
            name,
            default.code,
        )
        version = await add_template(
            conn, name, default.code, default.subject, default.body, activate=not has_active
        )
        state = "active" if not has_active else "not active (another version is)"
        said.append(f"{name}/{default.code}: default stored as version {version}, {state}")
    return said
