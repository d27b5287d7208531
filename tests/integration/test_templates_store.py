"""Template versions in PostgreSQL, and the default e-mail for a really settled bill."""

from __future__ import annotations

import asyncpg
import pytest

from telebill.channels import channel
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.errors import TelebillError
from telebill.rendering.render import TemplateInvalid, won
from telebill.seed.load import seed_population
from telebill.templates.bills import load_contexts
from telebill.templates.store import (
    activate,
    add_template,
    get_template,
    install_defaults,
    list_templates,
)

SMS_V2 = "{{ member.name }}님 {{ bill.amount_due|won }} 청구"


async def active_versions(db: asyncpg.Connection, ch: str) -> list[int]:
    return [t.source.version for t in await list_templates(db, ch) if t.active]


async def test_versions_one_active_switching_and_old_ones_kept(db: asyncpg.Connection) -> None:
    said = await install_defaults(db)
    assert any("sms/monthly_bill: default stored as version 1, active" in s for s in said)
    assert all("already stored" in s for s in await install_defaults(db))  # idempotent

    v2 = await add_template(db, "sms", "monthly_bill", None, SMS_V2)
    assert v2 == 2
    assert await active_versions(db, "sms") == [1]  # a new version is not active by itself
    await activate(db, "sms", "monthly_bill", 2)
    assert await active_versions(db, "sms") == [2]
    # the shipped default is stored, not switched to, and the line says how to switch
    sms = next(s for s in await install_defaults(db) if s.startswith("sms/"))
    assert sms == (
        "sms/monthly_bill: default already stored as version 1, not active (version 2 is; "
        "to send it: telebill templates activate --channel sms --code monthly_bill --version 1)"
    )
    assert await active_versions(db, "sms") == [2]
    assert (await get_template(db, "sms")).body == SMS_V2
    old = await get_template(db, "sms", version=1)  # still readable
    assert old.body == channel("sms").default_template().body

    await activate(db, "sms", "monthly_bill", 1)
    assert await active_versions(db, "sms") == [1]
    with pytest.raises(TelebillError, match="no version 9"):
        await activate(db, "sms", "monthly_bill", 9)
    assert await active_versions(db, "sms") == [1]  # a failed switch leaves the active one
    with pytest.raises(asyncpg.UniqueViolationError):  # the database refuses two active
        await db.execute("UPDATE message_template SET active = true WHERE channel = 'sms'")


async def test_a_refused_template_stores_nothing(db: asyncpg.Connection) -> None:
    with pytest.raises(TemplateInvalid, match="line 1"):
        await add_template(db, "sms", "monthly_bill", None, "{{ member.email }}")
    with pytest.raises(TelebillError, match="unknown channel 'fax'"):
        await add_template(db, "fax", "monthly_bill", None, "x")
    assert await list_templates(db) == []


async def test_default_email_for_a_settled_bill_shows_every_item(db: asyncpg.Connection) -> None:
    month = parse_month("2026-11")
    await seed_population(db, 40, month, None, workers=1)
    await settle_chunk(db, month, "settlement-2026-11", 1, 40, await load_products(db, month))
    await install_defaults(db)
    bill_ids = [r[0] for r in await db.fetch("SELECT id FROM bill ORDER BY id")]
    contexts = await load_contexts(db, bill_ids)  # one batch for all of them
    assert len(contexts) == 40
    template = await get_template(db, "email")
    for ctx in contexts.values():
        msg = channel("email").render(template, ctx)
        assert msg.template_version == 1
        assert won(ctx.bill.amount_due) in msg.body
        assert len(ctx.items) >= 2
        for item in ctx.items:
            assert item.label in msg.body


async def test_a_template_is_checked_against_real_bills_of_every_shape(
    db: asyncpg.Connection,
) -> None:
    month = parse_month("2026-11")
    await seed_population(db, 40, month, None, workers=1)
    await settle_chunk(db, month, "settlement-2026-11", 1, 40, await load_products(db, month))
    # a member with nothing to charge: a bill of 0 and no items
    nothing = await db.fetchval("SELECT id FROM bill ORDER BY id LIMIT 1")
    await db.execute("DELETE FROM bill_item WHERE bill_id = $1", nothing)
    await db.execute(
        "UPDATE bill SET charges = 0, discounts = 0, vat = 0, amount_due = 0, "
        "status = 'NOTHING_DUE' WHERE id = $1",
        nothing,
    )
    # fine on the sample bill, which has items; fails on the bill that has none
    first_item = "{{ member.name }}님 {{ items[0].label }}"
    with pytest.raises(TemplateInvalid, match=f"with nothing due \\(bill {nothing}\\)"):
        await add_template(db, "sms", "monthly_bill", None, first_item)
    # the largest real amount makes this loop too long (13,223 rounds for the sample bill)
    largest = await db.fetchval("SELECT id FROM bill ORDER BY id DESC LIMIT 1")
    await db.execute("UPDATE bill SET amount_due = 9999990 WHERE id = $1", largest)
    loop = "{{ member.name }}{% for i in range(bill.amount_due // 10) %}{% endfor %}"
    with pytest.raises(
        TemplateInvalid, match=f"largest amount \\(bill {largest}\\).*over the limit"
    ):
        await add_template(db, "sms", "monthly_bill", None, loop)
    assert await list_templates(db) == []
    assert await add_template(db, "sms", "monthly_bill", None, SMS_V2) == 1  # fits every shape
