"""The month's counts the database keeps (migration 0019) are never a cache that lies: whatever
the stores do, in whatever order, folded or not, committed or rolled back, at once from several
connections, the kept status equals a recount of the rows."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telebill.config import Settings, asyncpg_dsn
from telebill.db.connect import connect
from telebill.db.dead_letter_store import record_dead_letters
from telebill.db.delivery_store import Attempt, Published, mark_published, record_attempts
from telebill.db.month_views import month_status, recount_month_status
from telebill.db.notify_store import PlannedSend, record_plan_problem, record_plans
from telebill.db.tally_store import fold
from telebill.domain.db_roles import DbRole
from telebill.messaging.dead_letter import DeadLetterRecord
from tests.integration.conftest import Databases
from tests.integration.test_month_partitions import MEMBERS, NOV, P, settle_and_deliver

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)  # some instants before it, some after
CHANNELS = ("email", "sms", "alimtalk")
OUTCOMES = ("SENT", "FAILED", "DUPLICATE", "DEFERRED")

bills = st.lists(st.integers(0, MEMBERS - 1), min_size=1, max_size=8, unique=True)
steps = st.one_of(
    st.tuples(st.just("plan"), bills, st.booleans(), st.integers(-48, 48)),
    st.tuples(st.just("problem"), bills),
    st.tuples(st.just("publish"), bills, st.integers(-48, 48)),
    st.tuples(st.just("attempt"), bills, st.sampled_from(CHANNELS), st.sampled_from(OUTCOMES)),
    st.tuples(st.just("dead"), bills),
    st.tuples(st.just("delete"), bills),
    st.tuples(st.just("rolled back"), bills),
    st.tuples(st.just("fold")),
    st.tuples(st.just("truncate")),
)


async def apply(db: asyncpg.Connection, ids: list[int], step: tuple[Any, ...]) -> None:
    kind, *args = step
    chosen = [ids[i] for i in args[0]] if args else []
    if kind == "plan":
        with_workflow, hours = args[1], args[2]
        at = NOW + timedelta(hours=hours)
        plans = [PlannedSend(b, f"notify-{b}" if with_workflow else None, at) for b in chosen]
        await record_plans(db, P, plans)
    elif kind == "problem":
        for b in chosen:
            await record_plan_problem(db, b, P, f"notify-{b}", "blackouts cover the day")
    elif kind == "publish":
        at = NOW + timedelta(hours=args[1])
        await mark_published(db, [Published(b, P, f"notify-{b}", at) for b in chosen])
    elif kind == "attempt":
        await record_attempts(db, [Attempt(b, P, str(args[1]), 1, str(args[2])) for b in chosen])
    elif kind == "dead":
        await record_dead_letters(
            db,
            [
                DeadLetterRecord(f"k{b}-{random.random()}", {}, "failed", b, P, "451", "550")
                for b in chosen
            ],
        )
    elif kind == "delete":  # an operator's SQL, the attempts first
        await db.execute(
            "DELETE FROM delivery_attempt WHERE notification_id IN "
            "(SELECT id FROM notification WHERE bill_id = ANY($1::bigint[]))",
            chosen,
        )
        await db.execute("DELETE FROM notification WHERE bill_id = ANY($1::bigint[])", chosen)
    elif kind == "truncate":  # a benchmark's or an operator's: the monthly notifications go
        await db.execute("TRUNCATE notification, delivery_attempt")
    elif kind == "rolled back":
        tr = db.transaction()
        await tr.start()
        await record_attempts(db, [Attempt(b, P, "email", 1, "SENT") for b in chosen])
        await tr.rollback()
    else:
        await fold(db)


async def agree(db: asyncpg.Connection) -> None:
    kept = await month_status(db, NOV, NOW)
    assert kept == await recount_month_status(db, NOV, NOW)


async def test_the_kept_counts_agree_with_a_recount_whatever_the_stores_do(
    databases: Databases,
) -> None:
    url = await databases.create()
    db = await connect(url)
    try:
        await settle_and_deliver(db, NOV)
        await agree(db)
    finally:
        await db.close()

    async def run(program: list[tuple[Any, ...]]) -> None:
        conn = await connect(url)
        try:
            ids = [r[0] for r in await conn.fetch("SELECT id FROM bill ORDER BY id")]
            for step in program:
                await apply(conn, ids, step)
            await agree(conn)
        finally:
            await conn.close()

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(steps, max_size=12))
    def check(program: list[tuple[Any, ...]]) -> None:
        asyncio.run(run(program))

    await asyncio.to_thread(check)


async def test_writers_at_once_never_wait_on_a_counter_and_the_counts_stay_exact(
    databases: Databases,
) -> None:
    url = await databases.create()
    db = await connect(url)
    writers = [await connect(url) for _ in range(4)]
    try:
        await settle_and_deliver(db, NOV)
        ids = [r[0] for r in await db.fetch("SELECT id FROM bill ORDER BY id")]

        async def write(k: int, conn: asyncpg.Connection) -> None:
            rng = random.Random(k)
            for _ in range(15):
                chosen = rng.sample(ids, 5)
                channel = rng.choice(CHANNELS)
                async with conn.transaction():
                    await record_plans(conn, P, [PlannedSend(b, f"w{b}", NOW) for b in chosen])
                    await record_attempts(
                        conn, [Attempt(b, P, channel, 1, rng.choice(OUTCOMES)) for b in chosen]
                    )
                if k == 0:
                    await fold(conn)  # a fold while the others write

        await asyncio.gather(*(write(k, c) for k, c in enumerate(writers)))
        await agree(db)
        await fold(db)
        await agree(db)
        assert await db.fetchval("SELECT count(*) FROM month_tally_delta") == 0
    finally:
        for c in [db, *writers]:
            await c.close()


async def test_no_role_can_write_counts_through_the_owners_trigger_functions(
    databases: Databases, settings: Settings
) -> None:
    """The counting functions run as the owner: attached by a process role to a table of its
    own, they must not write a count (nor may the role run the fold or the drop)."""
    installation = settings.beside("tally", await databases.create())
    api = await asyncpg.connect(asyncpg_dsn(installation.db_url_for(DbRole.API)))
    try:
        await api.execute("CREATE TEMP TABLE bill (billing_month date, id bigint)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await api.execute(
                "CREATE TRIGGER forged AFTER INSERT ON pg_temp.bill REFERENCING NEW TABLE AS"
                " new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.telebill_tally_bill_insert()"
            )
        for call in ("telebill_fold_tally()", "telebill_drop_month('2026-11-01')"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await api.execute(f"SELECT {call}")
    finally:
        await api.close()
    # even the owner, who may attach them, gets no count from a table of another name
    owner = await asyncpg.connect(asyncpg_dsn(installation.db_url))
    try:
        await owner.execute("CREATE TEMP TABLE bill (billing_month date, id bigint)")
        await owner.execute(
            "CREATE TRIGGER forged AFTER INSERT ON pg_temp.bill REFERENCING NEW TABLE AS"
            " new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.telebill_tally_bill_insert()"
        )
        with pytest.raises(asyncpg.RaiseError, match="counts bill only"):
            await owner.execute("INSERT INTO pg_temp.bill VALUES ('2026-11-01', 1)")
        assert await owner.fetchval("SELECT count(*) FROM month_tally_delta") == 0
    finally:
        await owner.close()
