"""Delivery rates with the simulated providers, each next to a raw consume-and-commit loop.

    python -m bench.consumers --members 20000 [--channels email,sms] [--processes 1]

1. seeds and settles N members in its own database (telebill_bench_deliver; not timed);
2. for each channel: publishes one event per bill to that channel's topic (a fresh prefix: as the
   e-mail events of the month, or as SMS fallbacks arrive), times a plain aiokafka loop that
   consumes and commits them doing nothing else (the baseline), then one `telebill consume
   <channel>` process, or --processes of them (e-mail 1 s latency, SMS 0.2 s, 1% failures each),
   until every event had its first attempt (members' quiet hours are cleared first, so none is
   deferred); the delivery tables are emptied between channels, so each channel delivers every
   bill;
3. prints each rate beside its baseline, and the largest consumer process's memory (peak, and
   over the second half of the run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import deliverable_month, drop_database, run_bench
from telebill.config import Settings, get_settings
from telebill.messaging.events import NotificationEvent
from telebill.messaging.topics import Topics
from telebill.stack.kafka_topics import ensure_topics

BENCH_DB = "telebill_bench_deliver"


@dataclass(frozen=True)
class Phase:
    channel: str
    events: int
    processes: int
    raw_s: float
    deliver_s: float
    steady_s: float
    sent: int
    peak_kib: int
    half_kib: tuple[int, int]


LATENCY = {"email": "1 s", "sms": "0.2 s"}
UNIT = {"email": "e-mails", "sms": "SMS"}


async def main(members: int, month_text: str, keep: bool, channels: str, processes: int) -> None:
    base = get_settings()
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text)
    try:
        bills = await conn.fetch("SELECT id, member_id FROM bill")
        phases = []
        for kind in channels.split(","):
            if kind not in LATENCY:
                raise SystemExit(f"--channels: {kind!r} is not email or sms")
            await conn.execute("TRUNCATE notification, provider_message CASCADE")
            phases.append(await phase(base, url, conn, kind, month_text, bills, processes))
    finally:
        await conn.close()
        if not keep:
            await drop_database(base, BENCH_DB)
    print()
    for p in phases:
        unit = UNIT[p.channel]
        print(
            f"{p.channel}: {p.events:,} events, {LATENCY[p.channel]} latency, 1% failures, "
            f"{p.processes} consumer process(es)"
        )
        print(f"  raw consume+commit (baseline):  {p.raw_s:6.1f} s  {p.events / p.raw_s:>9,.0f}/s")
        print(
            f"  `telebill consume {p.channel}`:{' ' * (11 - len(p.channel))}{p.deliver_s:6.1f} s  "
            f"{p.sent / p.deliver_s:>9,.0f} {unit}/s ({p.sent:,} sent, {p.events - p.sent:,} "
            "failed first time; start-up included)"
        )
        print(
            f"  from its first recorded send:  {p.steady_s:6.1f} s  "
            f"{p.sent / p.steady_s:>9,.0f} {unit}/s"
        )
        print(
            f"  memory (the largest process): peak RSS {p.peak_kib / 1024:,.0f} MiB; over the "
            "second half "
            f"{p.half_kib[0] / 1024:,.0f}–{p.half_kib[1] / 1024:,.0f} MiB"
        )


async def phase(
    base: Settings,
    url: str,
    conn: asyncpg.Connection,
    kind: str,
    month_text: str,
    bills: list[asyncpg.Record],
    count: int,
) -> Phase:
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(base.kafka_servers, base.kafka_partitions, prefix)
    topic = Topics(prefix).channel(kind)
    producer = AIOKafkaProducer(bootstrap_servers=base.kafka_servers, linger_ms=20)
    await producer.start()
    for b in bills:
        e = NotificationEvent(
            event_id=uuid.uuid4(),
            bill_id=b["id"],
            member_id=b["member_id"],
            billing_month=month_text,
            channel=kind,
        )
        await producer.send(topic, e.to_bytes(), key=e.key)
    await producer.flush()
    await producer.stop()
    n = len(bills)

    print(f"{kind}: raw consume-and-commit loop…", flush=True)
    raw = AIOKafkaConsumer(
        topic,
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

    print(f"{kind}: {count} `telebill consume {kind}` process(es)…", flush=True)
    installation = base.model_copy(update={"database_url": url, "topic_prefix": prefix})
    env = (
        os.environ
        | installation.process_env()
        | {
            "TELEBILL_RETRY_BASE_DELAY_S": "3600",  # first attempts only: retries are not measured
        }
    )
    processes = [
        await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "telebill"),
            "consume",
            kind,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    started = time.perf_counter()
    first_at: float | None = None
    rss: list[int] = []  # the largest process's RSS at each reading
    try:
        while (done := await conn.fetchval("SELECT count(*) FROM delivery_attempt")) < n:
            if any(p.returncode is not None for p in processes):
                raise SystemExit("a consumer process exited")
            if done and first_at is None:
                first_at = time.perf_counter()
            rss.append(max(memory_kib(p.pid) for p in processes))
            await asyncio.sleep(0.2)
        deliver_s = time.perf_counter() - started
        steady_s = time.perf_counter() - (first_at or started)
        peak = max(peak_kib(p.pid) for p in processes)
    finally:
        for p in processes:
            p.send_signal(signal.SIGTERM)
        await asyncio.gather(*(asyncio.wait_for(p.wait(), 60) for p in processes))
    sent = await conn.fetchval("SELECT count(*) FROM delivery_attempt WHERE outcome = 'SENT'")
    half = rss[len(rss) // 2 :] or [0]
    return Phase(kind, n, count, raw_s, deliver_s, steady_s, sent, peak, (min(half), max(half)))


def memory_kib(pid: int) -> int:
    return _status_field(pid, "VmRSS")


def peak_kib(pid: int) -> int:
    return _status_field(pid, "VmHWM")


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--channels", default="email,sms", help="the consumers to measure, in this order"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="consumer processes of each channel at once"
    )


if __name__ == "__main__":
    run_bench(main, __doc__, options=options)
