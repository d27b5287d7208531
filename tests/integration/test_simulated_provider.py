"""The simulated providers' idempotency keys on PostgreSQL: two consumers sending the same
delivery key at once get one acceptance between them, and each refusal is counted."""

from __future__ import annotations

import asyncio

import asyncpg

from telebill.channels import channel
from telebill.channels.base import DeliveryFailed
from telebill.channels.simulated import IdempotencyLedger, SimulatedSender
from telebill.config import asyncpg_dsn
from telebill.rendering.context import sample_context
from tests.integration.conftest import Databases


async def test_a_key_is_accepted_once_whoever_sends_it_and_refusals_are_counted(
    databases: Databases,
) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(await databases.create()), min_size=1, max_size=4)
    assert pool is not None
    message = channel("sms").render(channel("sms").default_template(), sample_context())
    try:
        # two consumer processes, each with its own connection to the provider
        a = SimulatedSender(0.01, 0.0, ledger=IdempotencyLedger(pool, "sms"))
        b = SimulatedSender(0.01, 0.0, ledger=IdempotencyLedger(pool, "sms"))
        keys = [f"{n}:MONTHLY_BILL" for n in range(200)]
        results = await asyncio.gather(
            *(s.send("010-0000-0000", message, k) for k in keys for s in (a, b))
        )
        assert sum(results) == len(keys)  # one acceptance per key
        again = await asyncio.gather(*(a.send("010-0000-0000", message, k) for k in keys[:50]))
        assert not any(again)
        async with pool.acquire() as conn:
            rows = await conn.fetchval("SELECT count(*) FROM provider_message")
            refusals = await conn.fetchval("SELECT sum(refusals) FROM provider_message")
        assert rows == len(keys) and a.ledger is not None and b.ledger is not None
        assert a.ledger.refused + b.ledger.refused == len(keys) + 50
        assert 50 <= refusals <= len(keys) + 50  # a refusal racing the first insert is not counted
        # another channel's provider has keys of its own
        email = SimulatedSender(0.0, 0.0, ledger=IdempotencyLedger(pool, "email"))
        assert await email.send("a@example.com", message, keys[0])
    finally:
        await pool.close()


async def test_a_provider_that_cannot_keep_its_keys_accepts_nothing(databases: Databases) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(await databases.create(migrated=False)))
    assert pool is not None
    message = channel("sms").render(channel("sms").default_template(), sample_context())
    try:  # no provider_message table: as if the provider were down
        sender = SimulatedSender(0.0, 0.0, ledger=IdempotencyLedger(pool, "sms"))
        try:
            await sender.send("010-0000-0000", message, "1:MONTHLY_BILL")
        except DeliveryFailed as exc:
            assert "provider unavailable" in str(exc)
        else:
            raise AssertionError("accepted without a record of it")
    finally:
        await pool.close()
