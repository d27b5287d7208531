"""Message templates: every change a new version, one version active, and a preview of a real
bill (or a sample one) rendered with a stored version or with a draft not stored yet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from telebill.channels import channel as get_channel
from telebill.channels.base import DEFAULT_CODE, TemplateSource
from telebill.channels.links import BillLinks
from telebill.errors import NotFound
from telebill.rendering.context import sample_context

if TYPE_CHECKING:
    from telebill.channels.base import RenderedMessage
    from telebill.service.deps import Deps
    from telebill.templates.store import StoredTemplate


async def templates(deps: Deps, channel: str | None = None) -> list[StoredTemplate]:
    """Every stored version, which one is active, and when it was added."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import list_templates

    async with deps.db() as conn:
        return await list_templates(conn, channel)


async def template(
    deps: Deps, channel: str, code: str = DEFAULT_CODE, version: int | None = None
) -> TemplateSource:
    """The given version, or the active one."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import get_template

    async with deps.db() as conn:
        return await get_template(conn, channel, code, version)


async def add(
    deps: Deps,
    channel: str,
    body: str,
    code: str = DEFAULT_CODE,
    subject: str | None = None,
    activate: bool = False,
) -> int:
    """Store a new version after rendering it against sample bills and bills of every shape in
    the database; one that does not render is refused with its line and reason. The renders
    run in a helper process (bounded in time and memory) before the store renders them again."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.bills import shape_bills, shape_samples

    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import add_template

    ch = get_channel(channel)
    source = TemplateSource(channel, code, 0, subject if ch.has_subject else None, body)
    async with deps.db() as conn:
        shapes = {**shape_samples(), **await shape_bills(conn)}
        await deps.renderer().render(source, {f"with {k}": v for k, v in shapes.items()})
        return await add_template(conn, channel, code, subject, body, activate)


async def activate(deps: Deps, channel: str, version: int, code: str = DEFAULT_CODE) -> None:
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import activate as do_activate

    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import get_template

    async with deps.db() as conn:
        await get_template(conn, channel, code, version)  # NotFound when there is no such one
        await do_activate(conn, channel, code, version)


async def install_defaults(deps: Deps) -> list[str]:
    """Store the shipped Korean templates where missing; one line said per channel."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import install_defaults as install

    async with deps.db() as conn:
        return await install(conn)


@dataclass(frozen=True)
class Draft:
    subject: str | None
    body: str


async def preview(
    deps: Deps,
    channel: str,
    bill_id: int | None = None,
    code: str = DEFAULT_CODE,
    version: int | None = None,
    draft: Draft | None = None,
) -> RenderedMessage:
    """A template rendered for a settled bill (default: a sample bill): the stored `version`
    (default the active one), or `draft`, a text being edited and not stored. A settled bill's
    preview carries its member's link to the bill's page, as its message does."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.bills import load_contexts

    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.templates.store import get_template

    ch = get_channel(channel)
    async with deps.db() as conn:
        if draft is None:
            source = await get_template(conn, channel, code, version)
        else:
            source = TemplateSource(
                channel, code, 0, draft.subject if ch.has_subject else None, draft.body
            )
        if bill_id is None:
            context = sample_context()
        else:
            links = BillLinks.from_settings(deps.settings)
            contexts = await load_contexts(conn, [bill_id], links)
            if bill_id not in contexts:
                raise NotFound(f"no bill with id {bill_id}")
            context = contexts[bill_id]
    # Not on this event loop: the text may be anyone's draft (a viewer may preview).
    return await deps.renderer().render(source, {"": context})
