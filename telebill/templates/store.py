"""Template versions: every change is a new version, validated before it is stored; one version
is active. The statements are the templates store's (`telebill/db/template_store.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from telebill.channels import channel, channels
from telebill.channels.base import DEFAULT_CODE, TemplateSource
from telebill.db import template_store
from telebill.db.connect import DbConn
from telebill.errors import NotFound, TelebillError
from telebill.rendering.render import TemplateInvalid
from telebill.templates.bills import shape_bills, shape_samples


@dataclass(frozen=True)
class StoredTemplate:
    source: TemplateSource
    active: bool
    created_at: datetime


def _stored(r: template_store.TemplateRow) -> StoredTemplate:
    source = TemplateSource(r.channel, r.code, r.version, r.subject, r.body)
    return StoredTemplate(source, r.active, r.created_at)


async def list_templates(conn: DbConn, channel_name: str | None = None) -> list[StoredTemplate]:
    return [_stored(r) for r in await template_store.list_rows(conn, channel_name)]


async def get_template(
    conn: DbConn, channel_name: str, code: str = DEFAULT_CODE, version: int | None = None
) -> TemplateSource:
    """The given version, or the active one."""
    row = await template_store.find_row(conn, channel_name, code, version)
    if version is None:
        missing = (
            f"no active {channel_name} template {code!r} (`telebill templates install-defaults`)"
        )
    else:
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
        await template_store.lock_template(conn, channel_name, code)
        version = await template_store.insert_version(
            conn, channel_name, code, subject if ch.has_subject else None, body
        )
        if activate or version == 1:
            await _activate(conn, channel_name, code, version)
    return version


async def _activate(conn: DbConn, channel_name: str, code: str, version: int) -> None:
    if not await template_store.set_active(conn, channel_name, code, version):
        raise TelebillError(f"{channel_name} template {code!r} has no version {version}")


async def activate(conn: DbConn, channel_name: str, code: str, version: int) -> None:
    """Make `version` the active one (in one transaction: never zero, never two active)."""
    channel(channel_name)
    async with conn.transaction():
        await template_store.lock_template(conn, channel_name, code)
        await _activate(conn, channel_name, code, version)


async def install_defaults(conn: DbConn) -> list[str]:
    """Store each channel's shipped template unless that exact text is already a version.
    A shipped template never replaces the active version (an operator's, or an earlier
    release's): it is stored beside it, and the line says how to switch to it."""
    said = []
    for name, ch in sorted(channels().items()):
        default = ch.default_template()
        active = await template_store.active_version(conn, name, default.code)
        same = await template_store.version_with_text(
            conn, name, default.code, default.subject, default.body
        )
        if same is None:
            same = await add_template(
                conn, name, default.code, default.subject, default.body, activate=active is None
            )
            line = f"{name}/{default.code}: default stored as version {same}"
            active = active or same
        else:
            line = f"{name}/{default.code}: default already stored as version {same}"
        if active == same:
            said.append(f"{line}, active")
        else:
            now = f"version {active} is" if active else "no version is"
            said.append(
                f"{line}, not active ({now}; to send it: telebill templates activate "
                f"--channel {name} --code {default.code} --version {same})"
            )
    return said
