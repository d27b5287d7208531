"""What bench.month watches: workflows closed (by Temporal's visibility), the processes'
memory, the Temporal server's disk; and the baselines' workloads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from bench.common import status_kib
from bench.month_workflows import DelayedNoop, DelayedThenWork
from telebill.config import Settings
from telebill.stack.manager import Stack
from telebill.stack.service import folder_size
from telebill.stack.temporal import dev_server_argv, ensure_search_attributes
from telebill.stack.temporal_server import DATABASES as TEMPORAL_DATABASES
from telebill.temporal_gateway import initial_search_attributes

STARTS_AT_ONCE = 50
POLL_S = 0.5  # how often wait_closed reads the count of closed workflows
SEOUL = ZoneInfo("Asia/Seoul")


@dataclass(frozen=True)
class Closed:
    n: int  # workflows closed
    first_s: float  # from the mark until the first closed…
    all_s: float  # …until all had
    p99_s: float  # …until 99% had
    p10_s: float = 0.0  # …until 10% had
    p90_s: float = 0.0  # …until 90% had

    @property
    def steady_rate(self) -> float:
        """Closed per second between the 10th and the 90th percentile: the throughput, apart
        from the wake's ramp and the tail. The tail of a send day is its failed e-mails waiting
        out their retry (1% of them fail by the requirement's simulation, and 99% is where they
        begin), which the baseline has no equivalent of."""
        # no finer than the count is read: a small run can pass both marks between two reads
        return 0.8 * self.n / max(self.p90_s - self.p10_s, POLL_S)


async def wait_closed(client: Client, query: str, n: int, mark: float, already: int = 0) -> Closed:
    """Poll the count of closed workflows matching `query` until `n` more than `already` have
    closed; the spans from `mark` (time.perf_counter)."""
    first = p10 = p90 = p99 = None
    while True:
        asked = time.perf_counter()
        try:
            closed = await client.count_workflows(f"{query} AND ExecutionStatus != 'Running'")
        except RPCError as exc:  # a server this loaded sometimes fails one read: read again
            print(f"   (count failed: {exc}; again)")
            await asyncio.sleep(2)
            continue
        done = closed.count - already
        now = time.perf_counter() - mark
        if done and first is None:
            first = now
        if done >= 0.1 * n and p10 is None:
            p10 = now
        if done >= 0.9 * n and p90 is None:
            p90 = now
        if done >= 0.99 * n and p99 is None:
            p99 = now
        if done >= n:
            return Closed(n, first or now, now, p99 or now, p10 or now, p90 or now)
        # A count is a scan of the visibility rows: on the production server's PostgreSQL it
        # reached 83 ms at 132,000 workflows, and counting every half second took 490 s of
        # its statement time in a 1M month. At most a twentieth of the time goes to counting.
        await asyncio.sleep(max(POLL_S, 20 * (time.perf_counter() - asked)))


def rss_mib(pid: int) -> tuple[float, float]:
    """(now, peak) resident memory of a process in MiB, from /proc."""
    return status_kib(pid, "VmRSS") / 1024, status_kib(pid, "VmHWM") / 1024


def stack_memory(settings: Settings) -> dict[str, tuple[float, float]]:
    """The stack's local services' memory (their peak since they started)."""
    found = {}
    for service in Stack(settings).services:
        pid = service.pid()
        if pid is not None:
            found[service.name] = rss_mib(pid)
    return found


async def temporal_disk(folder: Path | None, conn: asyncpg.Connection) -> int:
    """Bytes the Temporal server keeps: the dev server's folder, or (`folder` None) the
    production server's two PostgreSQL databases."""
    if folder is not None:
        return folder_size(folder)
    size = await conn.fetchval(
        "SELECT sum(pg_database_size(name))::bigint FROM unnest($1::text[]) AS name",
        list(TEMPORAL_DATABASES),
    )
    return int(size or 0)


async def delayed_starts(client: Client, queue: str, tag: str, month: str, n: int) -> float:
    """Bare delayed starts (a month ahead) with the four search attributes; starts/s."""
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    began = time.perf_counter()

    async def one(i: int) -> None:
        async with gate:
            await client.start_workflow(
                DelayedNoop.run,
                id=f"bench{tag}-delayed-{i}",
                task_queue=queue,
                start_delay=timedelta(days=30),
                search_attributes=initial_search_attributes(
                    month, i, datetime.now(ZoneInfo("Asia/Seoul"))
                ),
            )

    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - began)


async def wake_together(
    client: Client,
    n: int,
    lead: float,
    prefix: str,
    start: Callable[[int, float], Awaitable[object]],
) -> Closed:
    """Start n workflows (ids `prefix` + i) to wake at one instant `lead` s from now, by
    `start(i, seconds left until the instant)`, STARTS_AT_ONCE at a time; the spans from that
    instant until they closed."""
    gate = asyncio.Semaphore(STARTS_AT_ONCE)
    wake = time.perf_counter() + lead

    async def one(i: int) -> None:
        async with gate:
            await start(i, max(wake - time.perf_counter(), 1.0))

    await asyncio.gather(*(one(i) for i in range(n)))
    assert time.perf_counter() < wake, "the starts took longer than their lead"
    return await wait_closed(client, f"WorkflowId STARTS_WITH '{prefix}'", n, wake)


async def delayed_then_work(
    client: Client,
    queue: str,
    tag: str,
    n: int,
    lead: float,
    kind: type[DelayedThenWork] = DelayedThenWork,
) -> Closed:
    """n one-activity workflows started delayed until one instant `lead` s after the first
    start, as the bills are: no workflow task before the wake (a timer's first tasks, 32,000
    at once, backed the production server's queue up for minutes at 1M); the spans from that
    instant."""
    prefix = f"bench{tag}-timer-"

    async def start(i: int, left: float) -> object:
        return await client.start_workflow(
            kind.run, id=f"{prefix}{i}", task_queue=queue, start_delay=timedelta(seconds=left)
        )

    return await wake_together(client, n, lead, prefix, start)


def _stat(pid: int) -> tuple[int, float, float]:
    """(parent pid, CPU seconds it used, CPU seconds its exited and reaped children used) of a
    live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / ticks
    return int(fields[1]), own, (int(fields[13]) + int(fields[14])) / ticks


def cpu_seconds(roots: dict[str, int], alone: tuple[str, ...] = ("worker",)) -> dict[str, float]:
    """CPU seconds used so far by each named process and its descendants, live or exited
    (PostgreSQL's backends, say: a backend's seconds stay counted after its connection
    closes, through the postmaster that reaped it); those named in `alone` without theirs
    (the bench's process is the parent of its consumers and of its own Temporal server,
    counted apart)."""
    found: dict[int, tuple[int, float, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                found[int(entry.name)] = _stat(int(entry.name))
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in found.items():
        children.setdefault(parent, []).append(pid)

    def total(pid: int) -> float:
        _, own, reaped = found.get(pid, (0, 0.0, 0.0))
        return own + reaped + sum(total(c) for c in children.get(pid, []))

    return {
        name: found.get(pid, (0, 0.0, 0.0))[1] if name in alone else total(pid)
        for name, pid in roots.items()
    }


def stack_pids(settings: Settings) -> dict[str, int]:
    return {s.name: pid for s in Stack(settings).services if (pid := s.pid()) is not None}


@asynccontextmanager
async def fresh_dev_server(
    port: int, extra: list[str] | None = None, kept: Path | None = None
) -> AsyncIterator[tuple[Client, int, Path]]:
    """A dev server of the benchmark's own (the stack's settings plus `extra`), its database
    in a temporary folder: figures that do not depend on what the stack's server has kept
    from earlier runs. Its client, pid and folder; stopped and deleted afterwards (with `kept`,
    its database is in that folder, reused if there, and kept)."""
    with contextlib.ExitStack() as scope:
        if kept is None:
            folder = scope.enter_context(tempfile.TemporaryDirectory(prefix="telebill-bench-"))
        else:
            os.makedirs(kept, exist_ok=True)
            folder = str(kept)
        argv = dev_server_argv(port, None, Path(folder) / "temporal.db", "default")
        server = await asyncio.create_subprocess_exec(
            *argv,
            *(extra or []),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client = await Client.connect(f"127.0.0.1:{port}")
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)
            await ensure_search_attributes(client, "default")
            yield client, server.pid, Path(folder)
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 60)
