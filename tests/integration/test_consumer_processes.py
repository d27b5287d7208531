"""`telebill consume` as real processes: SIGTERM, SIGKILL, and several sharing one group."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess

import pytest

from telebill.config import Settings
from telebill.db.connect import DbConn, connect
from telebill.stack.kafka import Kafka
from telebill.stack.postgres import Postgres
from telebill.stack.process import stop_pid
from tests.helpers import eventually
from tests.integration.consumer_processes import Output, caught_up, members_in_group, spawn
from tests.integration.delivery_platform import MEMBERS, Platform, event

ACCEPTED = "SELECT count(*) FROM provider_message WHERE channel = 'email'"


async def publish_all(platform: Platform) -> list[int]:
    """An event per bill, keyed by member, published at once (one flush): a consumer fetches
    them together, not one batch per provider latency however slow the machine."""
    bills = await platform.conn.fetch("SELECT id, member_id FROM bill ORDER BY id")
    await platform.publish_to(
        platform.topics.channel("email"), *(event(b["id"], b["member_id"]) for b in bills)
    )
    return [b["id"] for b in bills]


async def provider_accepted(
    conn: DbConn, at_least: int, process: subprocess.Popen[str], within: float = 60
) -> None:
    """Until the simulated provider has accepted this many e-mails: it records a key when the
    call reaches it, before its latency, so those sends are in flight now."""

    async def enough() -> bool:
        return bool(await conn.fetchval(ACCEPTED) >= at_least)

    what = f"the provider to accept {at_least} e-mail(s)"
    await eventually(enough, what, within, alive=[process], every=0.1)


async def sent_per_bill(conn: DbConn) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT n.bill_id, count(*) FILTER (WHERE d.outcome = 'SENT') AS sent "
        "FROM notification n JOIN delivery_attempt d ON d.notification_id = n.id GROUP BY 1"
    )
    return {r["bill_id"]: r["sent"] for r in rows}


async def finish_in_process(platform: Platform) -> None:
    platform.settings = platform.settings.model_copy(
        update={"fail_addresses": "", "email_failure_rate": 0.0}
    )

    async def all_delivered() -> bool:
        n = await platform.conn.fetchval(
            "SELECT count(*) FROM notification WHERE status = 'DELIVERED_EMAIL'"
        )
        return bool(n == MEMBERS)

    await platform.run_until(all_delivered)


def stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    out, _ = process.communicate(timeout=60)
    return process.returncode, out


async def test_sigterm_finishes_the_events_in_flight_and_commits_them(platform: Platform) -> None:
    # each send takes 6 s from the provider's acceptance: a wide window for the check below
    process = spawn(platform, "email", latency_s=6.0)
    try:
        await members_in_group(platform, "email", 1)
        bills = await publish_all(platform)
        await provider_accepted(platform.conn, 1, process)  # fetched and being sent
        assert await sent_per_bill(platform.conn) == {}  # nothing finished yet
        code, out = await asyncio.to_thread(stop, process, signal.SIGTERM)
    finally:
        process.kill()
    assert code == 0, out
    assert "email consumer stopped cleanly" in out
    before = await sent_per_bill(platform.conn)
    assert before and set(before.values()) == {1}  # what was in flight was finished
    await finish_in_process(platform)  # a new consumer takes what was not yet fetched
    assert await sent_per_bill(platform.conn) == {b: 1 for b in bills}


async def test_a_consumer_killed_mid_flight_loses_nothing_and_the_provider_sends_once(
    platform: Platform,
) -> None:
    process = spawn(platform, "email", latency_s=6.0)
    try:
        await members_in_group(platform, "email", 1)
        bills = await publish_all(platform)
        # the provider has accepted them all; its answers take 6 s
        await provider_accepted(platform.conn, len(bills), process)
        code, _ = await asyncio.to_thread(stop, process, signal.SIGKILL)
    finally:
        process.kill()
    assert code == -signal.SIGKILL
    assert await sent_per_bill(platform.conn) == {}  # killed before anything was recorded
    accepted = "SELECT count(*), sum(refusals) FROM provider_message WHERE channel = 'email'"
    assert list(await platform.conn.fetchrow(accepted) or []) == [len(bills), 0]
    await finish_in_process(platform)  # the next consumer takes the uncommitted events
    # sent again by the consumer, refused by the provider under the same idempotency keys: the
    # members got each bill once, and each is delivered
    assert list(await platform.conn.fetchrow(accepted) or []) == [len(bills), len(bills)]
    attempts = await platform.conn.fetch("SELECT DISTINCT outcome, error FROM delivery_attempt")
    assert [(r["outcome"], r["error"]) for r in attempts] == [
        ("DUPLICATE", "accepted before under this idempotency key; not sent again")
    ]


async def test_two_processes_share_the_work_of_one_group(platform: Platform) -> None:
    first = spawn(platform, "email", latency_s=0.05)
    second = spawn(platform, "email", latency_s=0.05)
    outs = [Output(first), Output(second)]
    try:
        deadline = asyncio.get_running_loop().time() + 90
        # 4 topics (main + 3 retry tiers) × 3 partitions, split between the two
        while not (
            sum(o.last_assignment() for o in outs) == 12 and all(o.last_assignment() for o in outs)
        ):
            assert asyncio.get_running_loop().time() < deadline, "the group never balanced"
            await asyncio.sleep(0.3)
        bills = await publish_all(platform)
        deadline = asyncio.get_running_loop().time() + 60
        while len(await sent_per_bill(platform.conn)) < len(bills):
            assert asyncio.get_running_loop().time() < deadline, "not all delivered"
            await asyncio.sleep(0.3)
        for p in (first, second):
            p.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 60) for p in (first, second)]
    finally:
        first.kill()
        second.kill()
    for o in outs:
        o.thread.join(10)
    assert codes == [0, 0]
    assert await sent_per_bill(platform.conn) == {b: 1 for b in bills}
    shares = []
    for out in ("".join(o.lines) for o in outs):
        shares.append(sum(int(n) for n in re.findall(r"email consumer: (\d+) sent", out)))
    assert sum(shares) == len(bills) and min(shares) > 0, shares  # both did part of it


@pytest.mark.slow
async def test_postgresql_stopped_hard_and_started_while_sending_loses_nothing_sends_nothing_twice(
    platform: Platform, settings: Settings
) -> None:
    pg = Postgres(settings)
    pid = pg.pid()
    if pg.external or pid is None:
        pytest.skip("needs the local stack's PostgreSQL, which this test stops")
    process = spawn(platform, "email", latency_s=4.0)
    out = Output(process)
    try:
        await members_in_group(platform, "email", 1)
        bills = await publish_all(platform)
        # fetched, loaded, and being sent (each send takes 4 s from the provider's acceptance)
        await provider_accepted(platform.conn, len(bills), process)
        stop_pid(pid, pg.marker, signal.SIGQUIT)  # "immediate" shutdown: no clean-up, like a crash

        async def waiting_out_postgresql() -> bool:  # the sends ended; their records wait
            return "PostgreSQL (recording the batch)" in "".join(out.lines)

        what = "the consumer to wait out PostgreSQL to record its batch"
        await eventually(waiting_out_postgresql, what, alive=[process])
        assert process.poll() is None, "the consumer exited while PostgreSQL was down"
        await pg.up()
        conn = await connect(platform.settings.db_url)
        try:
            deadline = asyncio.get_running_loop().time() + 90
            while len(sent := await sent_per_bill(conn)) < len(bills):
                assert asyncio.get_running_loop().time() < deadline, "not all recorded"
                assert process.poll() is None, "the consumer exited"
                await asyncio.sleep(0.5)
            code, _ = await asyncio.to_thread(stop, process, signal.SIGTERM)
            assert sent == {b: 1 for b in bills}  # each sent once, none lost
        finally:
            await conn.close()
    finally:
        process.kill()
        out.thread.join(10)
    assert code == 0
    assert "PostgreSQL (recording the batch)" in "".join(out.lines)  # it waited, then went on


@pytest.mark.slow
async def test_kafka_killed_and_restarted_while_sending_loses_nothing_sends_nothing_twice(
    platform: Platform, settings: Settings
) -> None:
    kafka = Kafka(settings)
    pid = kafka.pid()
    if kafka.external or pid is None:
        pytest.skip("needs the local stack's Kafka, which this test kills")
    process = spawn(platform, "email", latency_s=4.0)
    out = Output(process)
    try:
        await members_in_group(platform, "email", 1)
        bills = await publish_all(platform)
        # fetched and being sent (each send takes 4 s from the provider's acceptance)
        await provider_accepted(platform.conn, len(bills), process)
        stop_pid(pid, kafka.marker, signal.SIGKILL)  # the broker dies: no clean shutdown

        async def all_recorded() -> bool:  # the sends end and are recorded in PostgreSQL
            return len(await sent_per_bill(platform.conn)) == len(bills)

        # …while Kafka is down, so the commit cannot be made
        await eventually(all_recorded, "the sends to be recorded", alive=[process])
        assert process.poll() is None, "the consumer exited while Kafka was down"
        await kafka.up()
        deadline = asyncio.get_running_loop().time() + 120
        while len(sent := await sent_per_bill(platform.conn)) < len(bills):
            assert asyncio.get_running_loop().time() < deadline, "not all recorded"
            assert process.poll() is None, "the consumer exited"
            await asyncio.sleep(0.5)
        await members_in_group(platform, "email", 1, within=120)  # back in its group
        # every event committed: none can be handled (and sent) again after this
        await caught_up(platform, ["email"], within=120, alive=[process])
        assert await sent_per_bill(platform.conn) == {b: 1 for b in bills}
        code, _ = await asyncio.to_thread(stop, process, signal.SIGTERM)
        assert sent == {b: 1 for b in bills}
    finally:
        process.kill()
        out.thread.join(10)
    assert code == 0, "".join(out.lines)[-2000:]


@pytest.mark.slow
async def test_a_consumer_started_while_postgresql_is_down_waits_for_it(
    platform: Platform, settings: Settings
) -> None:
    pg = Postgres(settings)
    pid = pg.pid()
    if pg.external or pid is None:
        pytest.skip("needs the local stack's PostgreSQL, which this test stops")
    stop_pid(pid, pg.marker, signal.SIGQUIT)
    process = spawn(platform, "email", latency_s=0.05)
    out = Output(process)
    try:

        async def waiting_for_postgresql() -> bool:  # failed twice to reach it, and waits on
            return re.search(r"PostgreSQL \(start\): .*\(try 2\)", "".join(out.lines)) is not None

        await eventually(waiting_for_postgresql, "the consumer to wait out PostgreSQL", 60)
        assert process.poll() is None, "".join(out.lines)  # waiting, not exited
        await pg.up()
        await members_in_group(platform, "email", 1, within=90)
        conn = await connect(platform.settings.db_url)
        try:
            row = await conn.fetchrow("SELECT id, member_id FROM bill LIMIT 1")
            assert row is not None
            bill, member = row["id"], row["member_id"]
            await platform.publish(event(bill, member).to_bytes(), key=b"%d" % member)
            deadline = asyncio.get_running_loop().time() + 60
            while await sent_per_bill(conn) != {bill: 1}:
                assert asyncio.get_running_loop().time() < deadline, "nothing delivered"
                await asyncio.sleep(0.3)
        finally:
            await conn.close()
        code, _ = await asyncio.to_thread(stop, process, signal.SIGTERM)
    finally:
        process.kill()
        out.thread.join(10)
    assert code == 0
    assert "PostgreSQL (start)" in "".join(out.lines)
