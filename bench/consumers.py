"""E-mail delivery rate with the 1 s simulated provider, next to a raw consume-and-commit loop.

    python -m bench.consumers --members 20000

1. seeds and settles N members in its own database (telebill_bench_deliver; not timed) and
   publishes one event per bill to topics of its own (a fresh prefix);
2. baseline: a plain aiokafka loop that consumes and commits those events, doing nothing else;
3. a `telebill consume email` process (1 s latency, 1% failures) until every event had its
   first attempt (members' quiet hours are cleared first, so no event is deferred);
4. prints both rates and the consumer process's memory (peak, and over the second half).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import deliverable_month, drop_database, run_bench
from telebill.config import get_settings
from telebill.messaging.events import NotificationEvent
from telebill.messaging.topics import Topics
from telebill.stack.kafka_topics import ensure_topics

BENCH_DB = "telebill_bench_deliver"


async def main(members: int, month_text: str, keep: bool) -> None:
    base = get_settings()
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text)
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

    print("`telebill consume email` process (1 s latency, 1% failures)…", flush=True)
    installation = base.model_copy(update={"database_url": url, "topic_prefix": prefix})
    env = (
        os.environ
        | installation.process_env()
        | {
            "TELEBILL_RETRY_BASE_DELAY_S": "3600",  # first attempts only: retries are not measured
        }
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "telebill"),
        "consume",
        "email",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.perf_counter()
    first_at: float | None = None
    rss: list[int] = []
    try:
        while (done := await conn.fetchval("SELECT count(*) FROM delivery_attempt")) < n:
            if process.returncode is not None:
                raise SystemExit(f"the consumer exited with {process.returncode}")
            if done and first_at is None:
                first_at = time.perf_counter()
            rss.append(memory_kib(process.pid))
            await asyncio.sleep(0.2)
        deliver_s = time.perf_counter() - started
        steady_s = time.perf_counter() - (first_at or started)
        peak = peak_kib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
    sent = await conn.fetchval("SELECT count(*) FROM delivery_attempt WHERE outcome = 'SENT'")
    await conn.close()
    if not keep:
        await drop_database(base, BENCH_DB)
    half = rss[len(rss) // 2 :] or [0]
    print()
    print(f"events: {n:,}")
    print(f"raw consume+commit (baseline): {raw_s:6.1f} s  {n / raw_s:>9,.0f} events/s")
    print(
        f"e-mail consumer process:       {deliver_s:6.1f} s  {sent / deliver_s:>9,.0f} emails/s "
        f"({sent:,} sent, {n - sent:,} failed first time; start-up included)"
    )
    print(f"  from its first recorded send: {steady_s:6.1f} s  {sent / steady_s:>9,.0f} emails/s")
    print(
        f"consumer memory: peak RSS {peak / 1024:,.0f} MiB; RSS over the second half of the run "
        f"{min(half) / 1024:,.0f}–{max(half) / 1024:,.0f} MiB"
    )


def memory_kib(pid: int) -> int:
    return _status_field(pid, "VmRSS")


def peak_kib(pid: int) -> int:
    return _status_field(pid, "VmHWM")


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    run_bench(main, __doc__)
