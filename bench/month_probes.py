"""What bench.month watches: workflows closed (by Temporal's visibility), the processes'
memory, the Temporal server's disk."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from telebill.config import Settings
from telebill.stack.manager import Stack
from telebill.stack.service import folder_size


@dataclass(frozen=True)
class Closed:
    n: int  # workflows closed
    first_s: float  # from the mark until the first closed…
    all_s: float  # …until all had
    p99_s: float  # …until 99% had


async def wait_closed(client: Client, query: str, n: int, mark: float, already: int = 0) -> Closed:
    """Poll the count of closed workflows matching `query` until `n` more than `already` have
    closed; the spans from `mark` (time.perf_counter)."""
    first = p99 = None
    while True:
        closed = await client.count_workflows(f"{query} AND ExecutionStatus != 'Running'")
        done = closed.count - already
        now = time.perf_counter() - mark
        if done and first is None:
            first = now
        if done >= 0.99 * n and p99 is None:
            p99 = now
        if done >= n:
            return Closed(n, first or now, now, p99 or now)
        await asyncio.sleep(0.5)


def rss_mib(pid: int) -> tuple[float, float]:
    """(now, peak) resident memory of a process in MiB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def stack_memory(settings: Settings) -> dict[str, tuple[float, float]]:
    """The stack's local services' memory (their peak since they started)."""
    found = {}
    for service in Stack(settings).services:
        pid = service.pid()
        if pid is not None:
            found[service.name] = rss_mib(pid)
    return found


def temporal_disk(settings: Settings) -> int:
    return folder_size(settings.stack_dir / "temporal")
