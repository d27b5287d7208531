"""The pieces of a consumer benchmark: events on a fresh topic, the bare consume-and-commit loop
over them, `telebill consume` processes run until a count is reached, and their memory."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.common import children, cpu_seconds, status_kib
from telebill.config import Settings
from telebill.messaging.events import NotificationEvent
from telebill.messaging.topics import Topics
from telebill.stack.kafka_topics import ensure_topics


async def fresh_topics(settings: Settings) -> Settings:
    """The installation with a topic prefix of its own (every topic created, empty)."""
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    await ensure_topics(settings.kafka_servers, settings.kafka_partitions, prefix)
    return settings.model_copy(update={"topic_prefix": prefix})


async def publish(
    settings: Settings, kind: str, month_text: str, bills: Sequence[asyncpg.Record]
) -> str:
    """One event per bill on the channel's topic (as the month's e-mails, or as SMS fallbacks
    arrive); returns the topic."""
    topic = Topics(settings.topic_prefix).channel(kind)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_servers, linger_ms=20)
    await producer.start()
    try:
        delivered = []
        for b in bills:
            e = NotificationEvent(
                event_id=uuid.uuid4(),
                bill_id=b["id"],
                member_id=b["member_id"],
                billing_month=month_text,
                channel=kind,
            )
            delivered.append(await producer.send(topic, e.to_bytes(), key=e.key))
        await asyncio.gather(*delivered)  # an event Kafka did not take fails the run here
    finally:
        await producer.stop()
    return topic


async def raw_loop(settings: Settings, topic: str, n: int) -> float:
    """Seconds a plain aiokafka loop takes to consume and commit `n` events, doing nothing else:
    the baseline of every consumer figure."""
    raw = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_servers,
        group_id=f"{settings.topic_prefix}raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1_000,
    )
    await raw.start()
    try:
        started, seen = time.perf_counter(), 0
        while seen < n:
            batch = await raw.getmany(timeout_ms=1_000)
            seen += sum(len(r) for r in batch.values())
            await raw.commit()
        return time.perf_counter() - started
    finally:
        await raw.stop()


STALL_S = 180.0  # a count that stands still this long: the run has failed


@dataclass
class Run:
    """`telebill consume` processes until a count was reached."""

    total_s: float = 0.0  # from the processes' start
    steady_s: float = 0.0  # from the first counted event
    peak_kib: int = 0  # the largest process's peak RSS
    rss_kib: list[int] = field(default_factory=list)  # the largest process's RSS, each reading
    cpu_s: float = 0.0  # CPU time the processes (and their children) used until the count

    def second_half_mib(self) -> tuple[float, float]:
        half = self.rss_kib[len(self.rss_kib) // 2 :] or [0]
        return min(half) / 1024, max(half) / 1024


async def run_until(
    conn: asyncpg.Connection,
    processes: Sequence[asyncio.subprocess.Process],
    count_sql: str,
    n: int,
) -> Run:
    """Wait until `count_sql` counts `n`, reading the processes' memory (their children's too:
    a scaling supervisor's consumers) every 0.2 s; then stop them with SIGTERM."""
    run = Run()
    started = time.perf_counter()

    def cpu() -> float:
        return sum(cpu_seconds(q) for p in processes for q in (p.pid, *children(p.pid)))

    cpu_before = cpu()
    first_at: float | None = None
    last, moved_at = -1, started
    try:
        while (done := await conn.fetchval(count_sql)) < n:
            if any(p.returncode is not None for p in processes):
                raise SystemExit("a consumer process exited")
            if done and first_at is None:
                first_at = time.perf_counter()
            if done != last:
                last, moved_at = done, time.perf_counter()
            elif time.perf_counter() - moved_at > STALL_S:
                raise SystemExit(f"no progress for {STALL_S:.0f} s: {done:,} of {n:,}")
            pids = [q for p in processes for q in (p.pid, *children(p.pid))]
            run.rss_kib.append(max((status_kib(q, "VmRSS") for q in pids), default=0))
            run.peak_kib = max([run.peak_kib, *(status_kib(q, "VmHWM") for q in pids)])
            await asyncio.sleep(0.2)
        run.total_s = time.perf_counter() - started
        run.cpu_s = cpu() - cpu_before
        run.steady_s = time.perf_counter() - (first_at or started)
    finally:
        await stop(processes)
    return run


async def stop(processes: Sequence[asyncio.subprocess.Process]) -> None:
    """SIGTERM: each finishes its batch and commits, as on any stop."""
    for p in processes:
        if p.returncode is None:
            p.send_signal(signal.SIGTERM)
    await asyncio.gather(*(asyncio.wait_for(p.wait(), 120) for p in processes))
