"""The production Temporal server's settings, measured: its history shards, its PostgreSQL
connection pools, and PostgreSQL's own commit setting for the server's two databases. Each
variant runs on the stack's production server started afresh (its two databases dropped and
set up again: a cluster's shard count is fixed when its database is made), with bench.
server_knobs' workload, in rounds that alternate the order.

    TELEBILL_TEMPORAL_SERVER=production python -m bench.production_knobs --replace-server-data

It replaces the stack's production server's data: every workflow on it is gone. At the end the
server is started again, empty, with the stack's own settings.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from bench.knobs import Rates, arguments, report, rounds, workload
from bench.month_workflows import DelayedNoop
from telebill.config import Settings, get_settings
from telebill.db.cluster_admin import create_database
from telebill.stack.postgres import Postgres
from telebill.stack.temporal_server import DATABASES, TemporalServer
from telebill.temporal_gateway import initial_search_attributes


@dataclass(frozen=True)
class Variant:
    settings: dict[str, int] = field(default_factory=dict)  # the stack's settings changed
    postgres: dict[str, str] = field(default_factory=dict)  # set on the server's databases


VARIANTS: dict[str, Variant] = {
    "today (4 shards, 20/10 connections)": Variant(),
    "16 history shards": Variant({"temporal_history_shards": 16}),
    "1 history shard": Variant({"temporal_history_shards": 1}),
    "40/20 connections": Variant(
        {"temporal_persistence_conns": 40, "temporal_visibility_conns": 20}
    ),
    "synchronous_commit=off": Variant(postgres={"synchronous_commit": "off"}),
}


async def fresh_server(base: Settings, variant: Variant) -> Settings:
    """The stack's production server started on empty databases with the variant's settings."""
    s = base.model_copy(update=variant.settings)
    server = TemporalServer(s)
    server.down()
    admin = await Postgres(s).admin()
    try:
        for db in DATABASES:
            await admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            await create_database(admin, db)
            for name, value in variant.postgres.items():
                await admin.execute(f"ALTER DATABASE {db} SET {name} = '{value}'")
    finally:
        await admin.close()
    for db in DATABASES:  # the schema is set up again, not only brought to the version
        (server.dir / f"{db}.schema").unlink(missing_ok=True)
    await server.up()
    return s


async def attributes_known(client: Client) -> None:
    """A new cluster's history service learns the search attributes' mapping a while after
    the namespace has it: until then a start that names them is refused."""
    deadline = time.monotonic() + 180
    while True:
        try:
            handle = await client.start_workflow(
                DelayedNoop.run,
                id=f"knobs-probe-{uuid.uuid4().hex[:6]}",
                task_queue="knobs-probe",
                start_delay=timedelta(days=1),
                search_attributes=initial_search_attributes("2026-11", 1),
            )
            await handle.terminate("probe")
            return
        except RPCError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)


async def one_variant(base: Settings, variant: Variant, starts: int, workflows: int) -> Rates:
    s = await fresh_server(base, variant)
    client = await Client.connect(s.temporal_target)
    await attributes_known(client)
    return await workload(client, s, starts, workflows)


async def main(starts: int, workflows: int, rounds_n: int, replace_server_data: bool) -> None:
    base = get_settings()
    if base.temporal_server != "production" or base.temporal_address:
        raise SystemExit(
            "the stack's own production server is measured: set TELEBILL_TEMPORAL_SERVER=production"
        )
    if not replace_server_data:
        raise SystemExit(
            "this replaces the stack's production server's data: --replace-server-data"
        )
    try:
        results = await rounds(
            list(VARIANTS),
            rounds_n,
            lambda name: one_variant(base, VARIANTS[name], starts, workflows),
        )
    finally:
        await fresh_server(base, Variant())  # the stack's own settings again
    report("production_knobs", results, starts, workflows)


if __name__ == "__main__":
    parser = arguments(__doc__)
    parser.add_argument(
        "--replace-server-data",
        action="store_true",
        help="agree that every workflow on the stack's production server is dropped",
    )
    asyncio.run(main(**vars(parser.parse_args())))
