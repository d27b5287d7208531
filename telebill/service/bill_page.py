"""The member's bill page: one bill, shown to whoever holds its signed link
(telebill/channels/links.py), as the summary around it and as its e-mail's HTML.

Whatever is wrong with a link (not a token at all, altered, signed with another key, expired,
its bill gone or another member's), the answer is the same None after the same work: the
token is checked in full, then the same queries run, with a bill id that no bill has when the
token did not hold. Neither the answer nor its time tells what was wrong.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from telebill import clock
from telebill.channels import channel
from telebill.channels.base import TemplateSource
from telebill.domain.bill_link import verify
from telebill.errors import NotFound
from telebill.rendering.render import TemplateInvalid
from telebill.templates.bills import load_contexts
from telebill.templates.store import get_template

if TYPE_CHECKING:
    from telebill.db.connect import DbConn
    from telebill.rendering.context import BillContext
    from telebill.service.deps import Deps

NO_BILL = 0  # bills are numbered from 1: what a link that does not hold looks up
EMAIL = channel("email")


async def _email_template(conn: DbConn) -> TemplateSource:
    """The active e-mail template; the shipped one before any is installed."""
    try:
        return await get_template(conn, EMAIL.name)
    except NotFound:
        return EMAIL.default_template()


async def _read(deps: Deps, key: bytes, token: str) -> tuple[BillContext | None, TemplateSource]:
    claims = verify(token, key, clock.now(deps.settings))
    wanted = claims.bill_id if claims is not None else NO_BILL
    async with deps.db() as conn:
        contexts = await load_contexts(conn, [wanted])
        template = await _email_template(conn)
    found = contexts.get(wanted)
    if claims is None or found is None or found.member.id != claims.member_id:
        return None, template
    return found, template


async def bill(deps: Deps, key: bytes, token: str) -> BillContext | None:
    """The bill a link opens, or None (see above)."""
    found, _ = await _read(deps, key, token)
    return found


async def letter(deps: Deps, key: bytes, token: str) -> str | None:
    """The bill's e-mail as HTML (the active template's), or None (see above). The page does
    not offer a link to itself: the template's `link` is empty here."""
    found, template = await _read(deps, key, token)
    if found is None:
        return None
    # Off the event loop, as the consumers render: other members' requests go on meanwhile.
    return await asyncio.to_thread(_render, template, replace(found, link=""))


def _render(template: TemplateSource, context: BillContext) -> str:
    try:
        return EMAIL.render(template, context).body
    except TemplateInvalid:
        # An active version that cannot render this one bill (a limit it reaches) still
        # leaves its member a bill to read: the shipped template, which renders any.
        return EMAIL.render(EMAIL.default_template(), context).body
