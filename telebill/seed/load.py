"""Loads the generated population with COPY, chunk by chunk, one transaction per chunk.

Generation runs in worker processes while this process streams finished chunks to PostgreSQL, so
Python and the database work at the same time. At most a few chunks are in flight: memory stays
bounded whatever the member count.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date

import asyncpg

from telebill.db.catalogue_store import active_products
from telebill.db.member_store import (
    after_population_load,
    copy_population_chunk,
    lock_seeding,
    member_ids,
    population_seed,
    record_population_seed,
    unlock_seeding,
    usage_member_ids,
)
from telebill.db.partition_store import open_month
from telebill.errors import TelebillError
from telebill.seed.generate import (
    CHUNK,
    MEMBER_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    USAGE_COLUMNS,
    Catalogue,
    ChunkRequest,
    ChunkRows,
    Plan,
    generate_chunk,
)

DEFAULT_SEED = 42


class SeedError(TelebillError):
    """A reason the seed cannot go on, in one line; nothing has been written for it."""


@dataclass
class SeedPlan:
    seed: int
    month: date
    target: int  # members 1..target must exist and have this month's usage
    members_existing: int
    usage_existing: int  # members 1..usage_existing already have this month's usage

    @property
    def first_chunk_start(self) -> int:
        first_missing = min(self.members_existing, self.usage_existing) + 1
        return ((first_missing - 1) // CHUNK) * CHUNK + 1

    @property
    def members_to_add(self) -> int:
        return max(0, self.target - self.members_existing)

    @property
    def usage_to_add(self) -> int:
        return max(0, self.target - self.usage_existing)

    def requests(self, catalogue: Catalogue) -> list[ChunkRequest]:
        if self.members_to_add == 0 and self.usage_to_add == 0:
            return []
        return [
            ChunkRequest(
                seed=self.seed,
                catalogue=catalogue,
                month=self.month,
                start_id=start,
                end_id=min(start + CHUNK - 1, self.target),
                members_after=self.members_existing,
                usage_after=self.usage_existing,
            )
            for start in range(self.first_chunk_start, self.target + 1, CHUNK)
        ]


@dataclass
class SeedReport:
    plan: SeedPlan
    members_added: int = 0
    subscriptions_added: int = 0
    usage_rows_added: int = 0
    usage_members_added: int = 0
    seconds: float = 0.0
    rows_per_second: float = field(default=0.0)

    @property
    def rows_added(self) -> int:
        return self.members_added + self.subscriptions_added + self.usage_rows_added


async def read_catalogue(conn: asyncpg.Connection) -> Catalogue:
    rows = await active_products(conn)
    plans = tuple(
        Plan(r["id"], r["code"], r["data_mb"], r["voice_sec"], r["sms_count"])
        for r in rows
        if r["kind"] == "plan"
    )
    if not plans:
        raise SeedError("the product catalogue has no active plan (run `telebill db migrate`)")
    return Catalogue(
        plans=plans,
        addon_ids=tuple(r["id"] for r in rows if r["kind"] == "addon"),
        device_ids=tuple(r["id"] for r in rows if r["kind"] == "device"),
    )


def _contiguous(count_and_top: tuple[int, int], what: str) -> int:
    count, top = count_and_top
    if count != top:
        raise SeedError(
            f"{what} ids are not 1..{top} ({count} rows): this population was not made by "
            "`telebill seed`, so it cannot be continued deterministically"
        )
    return count


async def make_plan(
    conn: asyncpg.Connection, target: int, month: date, seed: int | None
) -> SeedPlan:
    stored = await population_seed(conn)
    if stored is not None and seed is not None and seed != stored:
        raise SeedError(
            f"the members were seeded with --seed {stored}; use the same seed to add to them"
        )
    members = _contiguous(await member_ids(conn), "member")
    usage = _contiguous(await usage_member_ids(conn, month), f"usage {month:%Y-%m} member")
    chosen = stored if stored is not None else (seed if seed is not None else DEFAULT_SEED)
    return SeedPlan(chosen, month, target, members, usage)


async def write_chunk(conn: asyncpg.Connection, rows: ChunkRows) -> None:
    """One transaction: members, then their subscriptions, then the month's usage."""
    await copy_population_chunk(
        conn,
        [
            ("member", rows.member, MEMBER_COLUMNS),
            ("subscription", rows.subscription, SUBSCRIPTION_COLUMNS),
            ("usage_monthly", rows.usage, USAGE_COLUMNS),
        ],
    )


def default_workers() -> int:
    # One core stays with PostgreSQL; generation gets the rest (at least one process).
    return max(1, (os.cpu_count() or 2) - 1)


async def run_seed(
    conn: asyncpg.Connection,
    plan: SeedPlan,
    catalogue: Catalogue,
    on_chunk: Callable[[ChunkRows], None] = lambda rows: None,
    workers: int | None = None,
) -> SeedReport:
    report = SeedReport(plan)
    requests = plan.requests(catalogue)
    started = time.perf_counter()
    if requests:
        await record_population_seed(conn, plan.seed)
        await open_month(conn, plan.month)  # the usage goes into the month's partition
        loop = asyncio.get_running_loop()
        n_workers = workers or default_workers()
        # spawn, not fork: the caller may hold threads (a Temporal worker, an event loop's pool).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            pending: deque[Future[ChunkRows]] = deque()
            queue = iter(requests)
            ahead = n_workers + 2  # bounded read-ahead: memory does not grow with the member count
            for req in queue:
                pending.append(pool.submit(generate_chunk, req))
                if len(pending) >= ahead:
                    break
            while pending:
                rows = await asyncio.wrap_future(pending.popleft(), loop=loop)
                nxt = next(queue, None)
                if nxt is not None:
                    pending.append(pool.submit(generate_chunk, nxt))
                await write_chunk(conn, rows)
                report.members_added += rows.members
                report.subscriptions_added += rows.subscriptions
                report.usage_rows_added += rows.usage_rows
                report.usage_members_added += rows.usage_members
                on_chunk(rows)
        await after_population_load(conn)
    report.seconds = time.perf_counter() - started
    report.rows_per_second = report.rows_added / report.seconds if report.seconds else 0.0
    return report


async def seed_population(
    conn: asyncpg.Connection,
    target: int,
    month: date,
    seed: int | None,
    on_plan: Callable[[SeedPlan], None] = lambda plan: None,
    on_chunk: Callable[[ChunkRows], None] = lambda rows: None,
    workers: int | None = None,
) -> SeedReport:
    """Bring members 1..target and their usage of `month` into being; what exists is kept."""
    if target <= 0:
        raise SeedError(f"--members must be at least 1, got {target}")
    await lock_seeding(conn)
    try:
        plan = await make_plan(conn, target, month, seed)
        on_plan(plan)
        return await run_seed(conn, plan, await read_catalogue(conn), on_chunk, workers)
    finally:
        await unlock_seeding(conn)
