"""Where bench.month and bench.month_horizon run: a Temporal server (a fresh dev server of the
bench's own, or the stack's, dev or production), the bench's settings beside the stack's, its
topics, a pool, the three consumers as `telebill consume` processes, a worker for the baselines,
and the processes whose CPU is counted; at the end, every process's memory."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import CONSUMERS, start_consumers
from bench.minimal_workflow import noop
from bench.month_probes import fresh_dev_server, rss_mib, stack_memory, stack_pids
from bench.month_workflows import DelayedNoop, DelayedThenWork, DelayedThenWorkUnsandboxed
from telebill.clock import offset_to
from telebill.config import Settings, asyncpg_dsn
from telebill.stack.kafka_topics import ensure_topics
from workers.temporal_worker import worker_options

FRESH_PORT = 27433  # the bench's own dev server, below the ephemeral range


@dataclass(frozen=True)
class Sitting:
    client: Client
    s: Settings  # the bench's installation: its own prefixes, database and clock
    pool: asyncpg.Pool
    roots: dict[str, int]  # the processes whose CPU is counted, by name
    folder: Path | None  # the Temporal server's data (None: the production server's databases)
    baseline_queue: str  # the baselines' worker polls it

    @property
    def bills(self) -> str:
        """The bills' notification workflows, by Temporal's visibility."""
        return f"WorkflowId STARTS_WITH '{self.s.workflow_id_prefix}notify-'"


@asynccontextmanager
async def sitting(
    base: Settings,
    url: str,
    tag: str,
    clock_at: datetime,
    stack_server: bool,
    kept: Path | None = None,
) -> AsyncIterator[Sitting]:
    """The bench's installation on the database at `url`, its clock at `clock_at`; with
    `stack_server` on the stack's Temporal server, else on a fresh dev server (its data in
    `kept` when given, reused if there)."""
    async with AsyncExitStack() as scope:
        folder: Path | None
        if stack_server:  # the stack's own, with whatever it has kept from earlier runs
            port = base.temporal_port
            client = await Client.connect(base.temporal_target)
            temporal_pid = stack_pids(base)["temporal"]
            # the production server keeps its data in PostgreSQL, not in a folder
            production = base.temporal_server == "production"
            folder = None if production else base.stack_dir / "temporal"
        else:
            port = FRESH_PORT
            client, temporal_pid, folder = await scope.enter_async_context(
                fresh_dev_server(FRESH_PORT, kept=kept / "temporal" if kept else None)
            )
        s = base.beside(f"bench{tag}", url, clock_offset_s=offset_to(clock_at), temporal_port=port)
        await ensure_topics(s.kafka_servers, s.kafka_partitions, s.topic_prefix)
        pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=s.db_pool_size)
        assert pool is not None
        consumers = await start_consumers(s)
        roots = stack_pids(s) | {"temporal": temporal_pid, "worker": os.getpid()}
        roots |= {f"consume {k}": p.pid for k, p in zip(CONSUMERS, consumers, strict=True)}
        # a queue of this sitting's own: an earlier, stopped one may have left baseline
        # workflows waiting for their activity, which no worker here then runs
        queue = f"bench-month-{tag}-{uuid.uuid4().hex[:4]}"
        try:
            async with Worker(
                client,
                task_queue=queue,
                workflows=[DelayedThenWork, DelayedThenWorkUnsandboxed, DelayedNoop],
                activities=[noop],
                **worker_options(s),  # the installation's, as the notification workflows get
            ):
                yield Sitting(client, s, pool, roots, folder, queue)
        finally:
            for process in consumers:
                peak = rss_mib(process.pid)[1] if process.returncode is None else 0.0
                print(f"   consumer pid {process.pid}: peak {peak:,.0f} MiB")
                process.send_signal(signal.SIGTERM)
            await asyncio.gather(*(p.wait() for p in consumers))
            await pool.close()
        mine_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"   worker and bench (one process): peak {mine_peak:,.0f} MiB")
        for name, (now, peak) in (stack_memory(s) | {"temporal": rss_mib(temporal_pid)}).items():
            print(f"   {name}: {now:,.0f} MiB now, peak {peak:,.0f} MiB since it started")
