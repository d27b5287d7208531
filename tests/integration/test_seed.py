"""`telebill seed` on real PostgreSQL: deterministic, idempotent, continuable, and with the
promised distributions (checked on a few thousand members)."""

from __future__ import annotations

import asyncio
from datetime import date, time

import asyncpg
import pytest

from telebill.db.connect import connect
from telebill.seed.load import SeedError, seed_population
from tests.helpers import run_cli
from tests.integration.conftest import Databases

NOV = date(2026, 11, 1)
DEC = date(2026, 12, 1)

FINGERPRINT = """
SELECT
  (SELECT md5(string_agg(concat_ws('|', id, name, email, phone, preferred_day, quiet_start,
          quiet_end, timezone), ',' ORDER BY id)) FROM member),
  (SELECT md5(string_agg(concat_ws('|', id, member_id, product_id, starts_on, contract_discount,
          installment_months), ',' ORDER BY id)) FROM subscription),
  (SELECT md5(string_agg(concat_ws('|', billing_month, member_id, subscription_id, data_mb,
          voice_sec, sms_count, micro_payment_krw), ',' ORDER BY billing_month, subscription_id))
     FROM usage_monthly)
"""


async def fingerprint(conn: asyncpg.Connection) -> tuple[str, str, str]:
    row = await conn.fetchrow(FINGERPRINT)
    assert row is not None
    return (row[0], row[1], row[2])


async def seeded(databases: Databases, *steps: tuple[int, date, int | None]) -> asyncpg.Connection:
    conn = await connect(await databases.create())
    for members, month, seed in steps:
        await seed_population(conn, members, month, seed, workers=1)
    return conn


async def test_same_seed_same_population_whether_at_once_or_in_steps(databases: Databases) -> None:
    at_once = await seeded(databases, (12_500, NOV, 42))
    in_steps = await seeded(databases, (3_000, NOV, 42), (12_500, NOV, None))
    other = await seeded(databases, (3_000, NOV, 7))
    try:
        assert await fingerprint(at_once) == await fingerprint(in_steps)
        assert (await fingerprint(other))[0] != (await fingerprint(in_steps))[0]
    finally:
        for conn in (at_once, in_steps, other):
            await conn.close()


async def test_running_again_adds_nothing_and_a_new_month_adds_only_usage(
    databases: Databases,
) -> None:
    conn = await seeded(databases, (2_000, NOV, None))
    try:
        before = await fingerprint(conn)
        again = await seed_population(conn, 2_000, NOV, None, workers=1)
        assert again.rows_added == 0
        assert (again.plan.members_existing, again.plan.usage_existing) == (2_000, 2_000)
        assert await fingerprint(conn) == before

        december = await seed_population(conn, 2_000, DEC, None, workers=1)
        assert december.members_added == 0 and december.usage_members_added == 2_000
        subs = await conn.fetchval("SELECT count(*) FROM subscription")
        assert december.usage_rows_added == subs
        assert (await fingerprint(conn))[:2] == before[:2]  # members and subscriptions untouched
    finally:
        await conn.close()


async def test_adding_with_another_seed_is_refused(databases: Databases) -> None:
    conn = await seeded(databases, (500, NOV, 42))
    try:
        with pytest.raises(SeedError, match="--seed 42"):
            await seed_population(conn, 1_000, NOV, 7, workers=1)
        assert await conn.fetchval("SELECT count(*) FROM member") == 500
    finally:
        await conn.close()


async def test_distributions_on_five_thousand_members(databases: Databases) -> None:
    n = 5_000
    conn = await seeded(databases, (n, NOV, None))
    try:
        rows = await conn.fetch("SELECT preferred_day, count(*) FROM member GROUP BY 1")
        days: dict[int, int] = {r[0]: r[1] for r in rows}
        assert set(days) == set(range(1, 32))  # every day of the month, 29–31 included
        assert all(0.5 / 31 * n < c < 1.6 / 31 * n for c in days.values()), days

        quiet = await conn.fetch(
            "SELECT quiet_start, quiet_end FROM member WHERE quiet_start IS NOT NULL"
        )
        assert 0.29 < len(quiet) / n < 0.38  # about a third
        wrapping = [q for q in quiet if q["quiet_start"] > q["quiet_end"]]
        assert len(wrapping) / len(quiet) > 0.6
        assert (time(22, 0), time(9, 0)) in {(q["quiet_start"], q["quiet_end"]) for q in quiet}

        seoul = await conn.fetchval("SELECT count(*) FROM member WHERE timezone = 'Asia/Seoul'")
        assert 0.95 < seoul / n < 0.99
        assert await conn.fetchval("SELECT count(DISTINCT timezone) FROM member") > 3
        assert await conn.fetchval("SELECT count(DISTINCT email) FROM member") == n
        assert await conn.fetchval("SELECT count(DISTINCT phone) FROM member") == n

        per_member = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE p.kind = 'plan')::float / $1 AS plans,
                   count(*) FILTER (WHERE p.kind = 'addon')::float / $1 AS addons,
                   count(*) FILTER (WHERE p.kind = 'device')::float / $1 AS devices,
                   count(DISTINCT s.member_id) FILTER (
                     WHERE p.kind = 'plan' AND s.contract_discount)::float / $1 AS contract
            FROM subscription s JOIN product p ON p.id = s.product_id
            """,
            n,
        )
        assert per_member is not None
        assert 1.08 < per_member["plans"] < 1.16  # one plan, and about 12% change it once
        assert 1.05 < per_member["addons"] < 1.23  # 0·30% + 1·35% + 2·25% + 3·10% = 1.15
        assert 0.31 < per_member["devices"] < 0.39
        assert 0.46 < per_member["contract"] < 0.54
        overlapping = await conn.fetchval(
            """
            SELECT count(*) FROM subscription a
            JOIN subscription b ON b.member_id = a.member_id AND b.id > a.id
            JOIN product pa ON pa.id = a.product_id AND pa.kind = 'plan'
            JOIN product pb ON pb.id = b.product_id AND pb.kind = 'plan'
            WHERE daterange(a.starts_on, a.ends_on, '[]') && daterange(b.starts_on, b.ends_on, '[]')
            """
        )
        assert overlapping == 0  # never two plans on one day
        in_month = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE starts_on > $1 AND starts_on <= $2) AS starting,
                   count(*) FILTER (WHERE ends_on >= $1 AND ends_on < $2) AS ending
            FROM subscription
            """,
            NOV,
            date(2026, 11, 30),
        )
        assert in_month is not None and in_month["starting"] > 0 and in_month["ending"] > 0
        over_limit = await conn.fetchval(
            """
            SELECT count(*) FROM member m
            JOIN (SELECT member_id, sum(micro_payment_krw) AS micro FROM usage_monthly
                  WHERE billing_month = $1 GROUP BY 1) u ON u.member_id = m.id
            WHERE u.micro > m.micro_payment_limit_krw
            """,
            NOV,
        )
        assert over_limit == 0

        usage = await conn.fetchrow(
            """
            SELECT count(*) AS rows, count(DISTINCT u.member_id) AS members,
                   count(*) FILTER (WHERE u.micro_payment_krw > 0)::float / $2 AS micro,
                   count(*) FILTER (WHERE p.data_mb IS NOT NULL AND u.data_mb > p.data_mb)::float
                     / nullif(count(*) FILTER (WHERE p.kind = 'plan' AND p.data_mb IS NOT NULL), 0)
                     AS data_over
            FROM usage_monthly u JOIN subscription s ON s.id = u.subscription_id
            JOIN product p ON p.id = s.product_id WHERE u.billing_month = $1
            """,
            NOV,
            n,
        )
        assert usage is not None
        assert usage["rows"] == await conn.fetchval("SELECT count(*) FROM subscription")
        assert usage["members"] == n
        assert 0.23 < usage["micro"] < 0.31  # 30%, less those whose limit is 0
        assert 0.11 < usage["data_over"] < 0.19
    finally:
        await conn.close()


async def test_cli_seeds_then_says_what_already_exists(databases: Databases) -> None:
    env = {"DATABASE_URL": await databases.create(migrated=False), "COLUMNS": "200"}
    first = await asyncio.to_thread(
        run_cli, "seed", "--members", "1200", "--month", "2026-11", env=env
    )
    assert first.returncode == 0, first.stderr
    assert "0 already existed, 1,200 added" in first.stdout
    second = await asyncio.to_thread(run_cli, "seed", "-n", "1200", "-m", "2026-11", env=env)
    assert second.returncode == 0, second.stderr
    assert "1,200 already existed, 0 added" in second.stdout
    assert "1,200 members already had it, 0 added" in second.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--members", "10", "--month", "2026-13"], "month must be YYYY-MM"),
        (["--members", "10", "--month", "November"], "month must be YYYY-MM"),
        (["--members", "0", "--month", "2026-11"], "--members must be at least 1"),
        (["--members", "-5", "--month", "2026-11"], "--members must be at least 1"),
    ],
)
async def test_cli_refuses_bad_input_in_one_line_and_writes_nothing(
    databases: Databases, args: list[str], message: str
) -> None:
    url = await databases.create()
    result = await asyncio.to_thread(run_cli, "seed", *args, env={"DATABASE_URL": url})
    assert result.returncode != 0
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    conn = await connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM member") == 0
    finally:
        await conn.close()


def test_cli_names_an_unreachable_database(tmp_path: object) -> None:
    from tests.helpers import free_port

    port = free_port()
    result = run_cli(
        "seed",
        "-n",
        "10",
        "-m",
        "2026-11",
        env={"DATABASE_URL": f"postgresql://u:p@127.0.0.1:{port}/x"},
    )
    assert result.returncode != 0
    err = result.stderr.strip()
    assert f"database at 127.0.0.1:{port}/x does not answer" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
