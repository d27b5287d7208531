"""Operator commands write nothing they cannot finish: a reservation for a past instant or an
unknown member is refused; one made while Temporal is down is kept with the reason for the
daily dispatch; a preference change saved while Temporal is down says so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from telebill.db.connect import connect
from telebill.db.partition_store import open_month
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from tests.helpers import free_port, run_cli
from tests.integration.conftest import Databases


async def installation(databases: Databases) -> tuple[asyncpg.Connection, dict[str, str]]:
    url = await databases.create()
    conn = await connect(url)
    await seed_population(conn, 10, parse_month("2026-11"), None, workers=1)
    # Temporal "down": nothing listens there
    env = {"TELEBILL_DATABASE_URL": url, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}
    return conn, env


async def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = await asyncio.to_thread(run_cli, *args, env=env, timeout=120)
    return done.returncode, (done.stdout + done.stderr).replace("\n", " ")


async def test_reserve_refuses_a_past_instant_and_unknown_members(databases: Databases) -> None:
    conn, env = await installation(databases)
    try:
        code, out = await cli(env, "reserve", "--at", "2020-01-05T10:00", "--month", "2026-11")
        assert code == 1 and "has passed" in out and "Traceback" not in out
        code, out = await cli(
            env, "reserve", "--at", "2099-01-05T10:00", "--month", "2026-11",
            "--member", "3", "--member", "999", "--member", "1000",
        )  # fmt: skip
        assert code == 1 and "no member 999, 1000" in out
        assert await conn.fetchval("SELECT count(*) FROM reserved_send") == 0  # nothing written
    finally:
        await conn.close()


async def test_a_reservation_made_while_temporal_is_down_is_kept_for_the_daily_dispatch(
    databases: Databases,
) -> None:
    conn, env = await installation(databases)
    try:
        code, out = await cli(
            env, "reserve", "--at", "2099-01-05T10:00", "--month", "2026-11", "--member", "3"
        )
        assert code == 1 and "reservation 1 is kept, but its dispatch failed" in out
        row = await conn.fetchrow("SELECT status, last_error, member_ids FROM reserved_send")
        assert row is not None and row["status"] == "RESERVED" and row["member_ids"] == [3]
        assert "does not answer" in row["last_error"]
        code, out = await cli(env, "reserve", "list")
        assert code == 0 and "RESERVED" in out and "does not answer" in out
    finally:
        await conn.close()


async def test_a_preference_change_while_temporal_is_down_is_saved_and_says_so(
    databases: Databases,
) -> None:
    conn, env = await installation(databases)
    try:
        await open_month(conn, parse_month("2026-11"))
        bill = await conn.fetchval(
            "INSERT INTO bill (member_id, billing_month, charges, discounts, vat, amount_due, "
            "settlement_id) VALUES (4, '2026-11-01', 0, 0, 0, 0, 'settlement-2026-11') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO notification (billing_month, bill_id, purpose, workflow_id, send_at) "
            "VALUES ('2026-11-01', $1, 'MONTHLY_BILL', 'notify-2026-11-4', $2)",
            bill,
            datetime(2026, 12, 20, tzinfo=UTC),
        )
        code, out = await cli(env, "member", "update", "--member", "4", "--preferred-day", "3")
        assert (
            code == 1 and "member 4 saved, but its 1 waiting notification(s) were not told" in out
        )
        assert await conn.fetchval("SELECT preferred_day FROM member WHERE id = 4") == 3
    finally:
        await conn.close()


async def test_a_member_s_micro_payment_limit_is_set_shown_and_bounded(
    databases: Databases,
) -> None:
    conn, env = await installation(databases)
    try:
        code, out = await cli(env, "member", "limit", "--member", "4", "--micro-payments", "50000")
        assert code == 0 and "micro-payment limit 50,000원 a month" in out, out
        code, out = await cli(env, "member", "show", "--member", "4")
        assert code == 0 and "micro-payment limit 50,000원 a month" in out, out
        assert (
            await conn.fetchval("SELECT micro_payment_limit_krw FROM member WHERE id = 4") == 50_000
        )
        code, out = await cli(
            env, "member", "limit", "--member", "4", "--micro-payments", "2000000"
        )
        assert code == 1 and "a micro-payment limit is 0–1,000,000원, got 2,000,000원" in out
        assert "Traceback" not in out
        code, out = await cli(env, "member", "limit", "--member", "99", "--micro-payments", "0")
        assert code == 1 and "no member 99" in out
    finally:
        await conn.close()
