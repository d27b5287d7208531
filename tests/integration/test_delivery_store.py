"""Delivery records: one delivery per bill and purpose, whatever is recorded twice."""

from __future__ import annotations

import asyncpg

from telebill.db.dead_letter_store import record_dead_letters
from telebill.db.delivery_store import Attempt, delivered_keys, record_attempts
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.delivery.replay import replay
from telebill.domain.month import parse_month
from telebill.messaging.dead_letter import DeadLetterRecord
from telebill.messaging.topics import Topics
from telebill.seed.load import seed_population

P = "MONTHLY_BILL"


async def bills(db: asyncpg.Connection, n: int) -> list[int]:
    month = parse_month("2026-11")
    await seed_population(db, n, month, None, workers=1)
    await settle_chunk(db, month, "settlement-2026-11", 1, n, await load_products(db, month))
    return [r[0] for r in await db.fetch("SELECT id FROM bill ORDER BY id")]


async def status(db: asyncpg.Connection, bill: int) -> str:
    return str(await db.fetchval("SELECT status FROM notification WHERE bill_id = $1", bill))


async def test_a_success_recorded_twice_delivers_once(db: asyncpg.Connection) -> None:
    a, b, c = await bills(db, 3)
    first = await record_attempts(
        db,
        [
            Attempt(a, P, "email", 1, "FAILED", error="smtp 451"),
            Attempt(
                a,
                P,
                "email",
                2,
                "SENT",
                template_code="monthly_bill",
                template_version=3,
                message_kind="EMAIL",
                latency_ms=1000,
            ),
            Attempt(b, P, "email", 1, "SENT", template_version=3),
            Attempt(
                b, P, "email", 1, "SENT", template_version=3
            ),  # the same event twice in a batch
        ],
    )
    assert first == {(a, P), (b, P)}
    again = await record_attempts(db, [Attempt(a, P, "sms", 1, "SENT", template_version=1)])
    assert again == set()  # already delivered: recorded as an attempt, changes nothing
    assert await status(db, a) == "DELIVERED_EMAIL"
    row = await db.fetchrow(
        "SELECT channel, template_version FROM notification WHERE bill_id = $1", a
    )
    assert row is not None and (row["channel"], row["template_version"]) == ("email", 3)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM delivery_attempt d "
            "JOIN notification n ON n.id = d.notification_id WHERE n.bill_id = $1",
            a,
        )
        == 3
    )
    assert await delivered_keys(db, [(a, P), (b, P), (c, P)]) == {(a, P), (b, P)}
    assert await db.fetchval("SELECT count(*) FROM notification") == 2


async def test_dead_letters_are_kept_and_never_undo_a_delivery(db: asyncpg.Connection) -> None:
    a, b = await bills(db, 2)
    await record_attempts(db, [Attempt(a, P, "email", 1, "SENT")])
    await record_dead_letters(
        db,
        [
            DeadLetterRecord("k1", {"bill_id": a}, "sms failed 4 times", a, P, "451", "500"),
            DeadLetterRecord("k2", {"bill_id": b}, "sms failed 4 times", b, P, "451", "500"),
            DeadLetterRecord("k3", {"raw": "not json"}, "not JSON", None, None, None, None),
        ],
    )
    assert await status(db, a) == "DELIVERED_EMAIL"
    assert await status(db, b) == "DEAD_LETTER"
    assert await db.fetchval("SELECT count(*) FROM dead_letter") == 3


async def test_a_dead_letter_recorded_twice_is_one_row_and_one_without_a_bill_is_kept(
    db: asyncpg.Connection,
) -> None:
    (a,) = await bills(db, 1)
    letter = DeadLetterRecord("src:t/0/1", {"bill_id": a}, "sms failed", a, P, None, None)
    orphan = DeadLetterRecord("dlq:d/0/2", {"bill_id": 999_999}, "theirs", 999_999, P, None, None)
    assert await record_dead_letters(db, [letter, orphan]) == 2
    assert await record_dead_letters(db, [letter]) == 0  # published again: still one row
    assert await db.fetchval("SELECT count(*) FROM dead_letter") == 2
    assert await status(db, a) == "DEAD_LETTER"  # the unknown bill got no notification row


async def test_replay_goes_on_past_a_letter_it_cannot_replay_and_says_why(
    db: asyncpg.Connection,
) -> None:
    (a,) = await bills(db, 1)
    bad = DeadLetterRecord("k", {"bill_id": a, "html": "<p>"}, "foreign", a, P, None, None)
    await record_dead_letters(db, [bad])
    result = await replay(db, "127.0.0.1:1", Topics("unused."), None)  # nothing to publish
    assert result.done == []
    [(_, why)] = result.skipped
    assert why.startswith("its event is not valid")
