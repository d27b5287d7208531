"""The drills' checks can fail: each one, on a month that breaks its promise on purpose (a bill
not summing to its items, a send inside quiet hours, a message the provider accepted twice),
says so; on the same month unbroken it holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

import pytest

from telebill.config import Settings
from telebill.db.delivery_store import Attempt, record_attempts
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.attempt import AttemptOutcome
from telebill.domain.month import parse_month
from tests.drills.checks import bills, provider, windows
from tests.drills.installation import MONTH, Installation, prepare
from tests.integration.conftest import Databases

pytestmark = pytest.mark.integration
MEMBERS = 40


@pytest.fixture
async def inst(settings: Settings) -> AsyncIterator[Installation]:
    databases = Databases(settings)
    installation = await prepare(settings, databases, MEMBERS)
    conn = installation.conn
    await settle_chunk(
        conn, parse_month(MONTH), "s", 1, MEMBERS, await load_products(conn, parse_month(MONTH))
    )
    await conn.execute(
        "UPDATE member SET timezone = 'Asia/Seoul', quiet_start = $1, quiet_end = $2 WHERE id = 3",
        time(21),
        time(8),
    )
    yield installation
    await conn.close()
    await databases.drop_all()


async def sent(inst: Installation, member: int, at: datetime) -> None:
    bill = await inst.conn.fetchval("SELECT id FROM bill WHERE member_id = $1", member)
    attempt = Attempt(bill, "MONTHLY_BILL", "email", 1, AttemptOutcome.SENT.value, at=at)
    await record_attempts(inst.conn, [attempt])
    await inst.conn.execute(
        "INSERT INTO provider_message (channel, idempotency_key) VALUES ('email', $1) "
        "ON CONFLICT DO NOTHING",
        f"{bill}:MONTHLY_BILL",
    )


async def test_a_bill_not_summing_to_its_items_is_caught(inst: Installation) -> None:
    assert (await bills(inst)).ok
    await inst.conn.execute(
        "UPDATE bill SET amount_due = amount_due + 10 WHERE id = (SELECT min(id) FROM bill)"
    )
    check = await bills(inst)
    assert not check.ok and "1 not summing" in check.detail


async def test_a_send_inside_quiet_hours_is_caught(inst: Installation) -> None:
    await sent(inst, 3, datetime(2026, 12, 10, 3, 0, tzinfo=UTC))  # 12:00 in Seoul: allowed
    assert (await windows(inst)).ok
    await sent(inst, 4, datetime(2026, 12, 10, 4, 0, tzinfo=UTC))  # member 4 has none
    await sent(inst, 3, datetime(2026, 12, 10, 13, 30, tzinfo=UTC))  # 22:30 in Seoul
    check = await windows(inst)
    assert not check.ok and check.detail.startswith("1 of 3 sends")


async def test_a_message_the_provider_accepted_but_no_bill_delivered_is_caught(
    inst: Installation,
) -> None:
    await sent(inst, 5, datetime(2026, 12, 10, 3, 0, tzinfo=UTC))
    assert (await provider(inst)).ok
    bill = await inst.conn.fetchval("SELECT id FROM bill WHERE member_id = 6")
    await inst.conn.execute(  # accepted by the provider, never recorded as delivered
        "INSERT INTO provider_message (channel, idempotency_key) VALUES ('email', $1)",
        f"{bill}:MONTHLY_BILL",
    )
    check = await provider(inst)
    assert not check.ok and "2 accepted for 1 delivered" in check.detail
