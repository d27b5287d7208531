"""E-mail delivery rate with the 1 s simulated provider, next to a raw consume-and-commit loop.

    python -m bench.consumers --members 20000

1. seeds and settles N members in its own database (telebill_bench_deliver; not timed) and
   publishes one event per bill to topics of its own (a fresh prefix);
2. baseline: a plain aiokafka loop that consumes and commits those events, doing nothing else;
3. the e-mail consumer (1 s latency, 1% failures) until every event had its first attempt;
4. prints both rates and the consumer process's peak memory.
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import drop_database, fresh_database, run_bench
from telebill.config import asyncpg_dsn, get_settings
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.messaging.events import NotificationEvent
from telebill.messaging.topics import Topics
from telebill.seed.load import seed_population
from telebill.stack.kafka import ensure_topics
from telebill.templates.store import install_defaults
from workers.delivery_consumer import ChannelConsumer

BENCH_DB = "telebill_bench_deliver"


async def main(members: int, month_text: str, keep: bool) -> None:
    base = get_settings()
    month = parse_month(month_text)
    url = await fresh_database(base, BENCH_DB)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    print(f"seeding and settling {members:,} members (not timed)…", flush=True)
    await seed_population(conn, members, month, None)
    products = await load_products(conn)
    for first in range(1, members + 1, 5_000):
        await settle_chunk(conn, month, "bench", first, min(first + 4_999, members), products)
    await install_defaults(conn)
    bills = await conn.fetch("SELECT id, member_id FROM bill")
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(base.kafka_servers, base.kafka_partitions, prefix)
    topics = Topics(prefix)
    producer = AIOKafkaProducer(bootstrap_servers=base.kafka_servers, linger_ms=20)
    await producer.start()
    for b in bills:
        e = NotificationEvent(
            event_id=uuid.uuid4(),
            bill_id=b["id"],
            member_id=b["member_id"],
            billing_month=month_text,
        )
        await producer.send(topics.channel("email"), e.to_bytes(), key=e.key)
    await producer.flush()
    await producer.stop()
    n = len(bills)

    print("raw consume-and-commit loop…", flush=True)
    raw = AIOKafkaConsumer(
        topics.channel("email"),
        bootstrap_servers=base.kafka_servers,
        group_id=f"{prefix}raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1_000,
    )
    await raw.start()
    started, seen = time.perf_counter(), 0
    while seen < n:
        batch = await raw.getmany(timeout_ms=1_000)
        seen += sum(len(r) for r in batch.values())
        await raw.commit()
    raw_s = time.perf_counter() - started
    await raw.stop()

    print("e-mail consumer (1 s latency, 1% failures)…", flush=True)
    settings = base.model_copy(
        update={"database_url": url, "topic_prefix": prefix, "retry_base_delay_s": 3_600.0}
    )
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=4)
    assert pool is not None
    stop = asyncio.Event()
    consumer = ChannelConsumer("email", settings, pool)
    task = asyncio.create_task(consumer.run(stop))
    started = time.perf_counter()
    while await conn.fetchval("SELECT count(*) FROM delivery_attempt") < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.2)
    deliver_s = time.perf_counter() - started
    stop.set()
    await task
    sent = await conn.fetchval("SELECT count(*) FROM delivery_attempt WHERE outcome = 'SENT'")
    await pool.close()
    await conn.close()
    if not keep:
        await drop_database(base, BENCH_DB)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"events: {n:,}")
    print(f"raw consume+commit (baseline): {raw_s:6.1f} s  {n / raw_s:>9,.0f} events/s")
    print(
        f"e-mail consumer:               {deliver_s:6.1f} s  {sent / deliver_s:>9,.0f} emails/s "
        f"({sent:,} sent, {n - sent:,} failed first time)"
    )
    print(f"peak RSS of this process (seeding, publishing and consuming): {peak:,.0f} MiB")


if __name__ == "__main__":
    run_bench(main, __doc__)
