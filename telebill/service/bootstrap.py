"""The composition root: what each kind of process opens from the settings, in one place.

- the Temporal worker: `worker_process` (the schema waited for, its Temporal client, its pool as
  the worker's database role);
- a consumer of the message platform: `consumer_process` (the schema waited for, its pool as the
  consumers' role, the outcome sink to Temporal; its Kafka clients it opens itself from the
  same settings, telebill/messaging/kafka_auth.py, as it polls);
- the admin API: `api_process` (the schema checked, its pool as the API's role, the service
  layer's `Deps` around it);
- the member's bill page: `web_process` (the same, its pool read-only);
- the CLI's service calls: `cli_deps` (a connection and a Temporal client per call);
- a settlement run by the CLI beside its own worker: `worker_pool`.

It sits with the service layer because it hands over the service layer's `Deps`; the entry
points (workers/, starters/, telebill/api/) call it and import nothing of each other's wiring.
Opening a pool or a client anywhere else is a test's or a benchmark's own business.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from telebill.config import Settings, get_settings
from telebill.db_pool import create_pool
from telebill.domain.db_roles import DbRole
from telebill.resilience import wait_out
from telebill.service.deps import Deps

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client
    from temporalio.runtime import Runtime

    from telebill.messaging.outcome import OutcomeSink


@asynccontextmanager
async def process_pool(
    settings: Settings, role: DbRole, *, wait: bool = True, read_only: bool = False
) -> AsyncIterator[asyncpg.Pool]:
    """The database at the latest schema (migrated where `role` may, else waited for), then the
    process's pool as `role`, closed on the way out. `wait`: a process started while
    PostgreSQL is down (a host rebooting, services in any order) waits for it."""
    # lazy: Alembic and SQLAlchemy, ~0.4 s of a command's start, for processes that migrate
    # (every CLI command imports this module for `cli_deps`)
    from telebill.db.migrate import ensure_schema_as

    if wait:
        await wait_out("PostgreSQL (start)", lambda: ensure_schema_as(settings, role))
        pool = await wait_out(
            "PostgreSQL (start)", lambda: create_pool(settings, role, read_only=read_only)
        )
    else:
        await ensure_schema_as(settings, role)
        pool = await create_pool(settings, role, read_only=read_only)
    try:
        yield pool
    finally:
        await pool.close()


@dataclass(frozen=True)
class WorkerParts:
    client: Client
    pool: asyncpg.Pool


@asynccontextmanager
async def worker_process(
    settings: Settings, monitoring: Callable[[], Runtime | None] = lambda: None
) -> AsyncIterator[WorkerParts]:
    """What a Temporal worker runs on: its client and its pool as the worker's role; a worker
    never runs against an older schema. `monitoring` is called once the schema is there: it
    starts the metrics and gives the runtime that serves the SDK's (or None). Not before: a
    worker waiting for PostgreSQL or a migration polls nothing, and its `up` must stay absent
    so that TelebillWorkerDown fires (deploy/prometheus/alerts.yml)."""
    # lazy: Alembic and SQLAlchemy, ~0.4 s of a command's start, for processes that migrate
    from telebill.db.migrate import ensure_schema_as

    # lazy: temporalio, ~0.25 s of a command's start, only processes that call Temporal
    from telebill.temporal_client import connect_client

    await wait_out("PostgreSQL (start)", lambda: ensure_schema_as(settings, DbRole.WORKER))
    client = await connect_client(settings, runtime=monitoring())
    pool = await wait_out("PostgreSQL (start)", lambda: create_pool(settings, DbRole.WORKER))
    try:
        yield WorkerParts(client, pool)
    finally:
        await pool.close()


@dataclass(frozen=True)
class ConsumerParts:
    pool: asyncpg.Pool
    sink: OutcomeSink  # the outcomes' way back to their workflows


@asynccontextmanager
async def consumer_process(settings: Settings) -> AsyncIterator[ConsumerParts]:
    """What a consumer runs on (the dead-letter consumer's too): its pool as the consumers'
    role, and the outcome sink, Temporal connected on its first report (a consumer with
    nothing to report never needs Temporal)."""
    # lazy: temporalio (the outcome sink's client), ~0.25 s of a command's start
    from telebill.delivery.outcomes import temporal_sink

    async with process_pool(settings, DbRole.CONSUMER) as pool:
        yield ConsumerParts(pool, temporal_sink(settings))


def worker_pool(settings: Settings) -> AbstractAsyncContextManager[asyncpg.Pool]:
    """A pool as the worker's role for a worker run inside another command (`telebill settle
    --with-worker`): the schema is that command's business, as before."""
    return _pool_only(settings, DbRole.WORKER)


@asynccontextmanager
async def _pool_only(settings: Settings, role: DbRole) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings, role)
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def api_process(settings: Settings) -> AsyncIterator[Deps]:
    """The API's dependencies, opened once for its life: a pool as the API's role (the schema
    checked first, not waited for: the API answers 503 while a service is away), one Temporal
    client on first use, the preview helpers; all closed on the way out."""
    async with process_pool(settings, DbRole.API, wait=False) as pool:
        deps = Deps(settings, pool)
        try:
            yield deps
        finally:
            deps.close()


@asynccontextmanager
async def web_process(settings: Settings) -> AsyncIterator[Deps]:
    """The bill page's dependencies: a pool as the API's role, every transaction read-only (the
    page only reads a bill, its items and its member's name; a role of its own that can read
    no more is the next step, telebill/db/roles.py), and no Temporal, no renderer processes."""
    async with process_pool(settings, DbRole.API, wait=False, read_only=True) as pool:
        yield Deps(settings, pool, acquire_timeout=settings.web_db_acquire_timeout_s)


def cli_deps(settings: Settings | None = None) -> Deps:
    """A CLI command's: a connection (migrated first if behind) and a Temporal client opened
    for its one call."""
    return Deps(settings or get_settings())
