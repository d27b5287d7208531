"""Helpers shared by the benchmarks: a throw-away database beside the main one."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from subprocess import DEVNULL
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from telebill.config import Settings, asyncpg_dsn
from telebill.db import migrate as migrations
from telebill.db.connect import connect
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from telebill.stack.kafka_topics import delete_topics, topic_names
from telebill.templates.store import install_defaults

CONSUMERS = ("email", "sms", "dlq")


async def fresh_database(settings: Settings, name: str) -> str:
    """Drop and create database `name`, migrate it, and return its URL."""
    admin = await connect(settings.db_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = make_url(settings.db_url).set(database=name).render_as_string(hide_password=False)
    await asyncio.to_thread(migrations.upgrade, url)
    return url


async def deliverable_month(
    settings: Settings, name: str, members: int, month_text: str, settle: bool = True
) -> tuple[str, asyncpg.Connection]:
    """A fresh database `name` with `members` seeded and settled for the month (not through
    Temporal), the default templates, and no quiet hours (so nothing is deferred): bills ready
    to deliver (`settle=False`: ready to settle). Returns its URL and a connection to it."""
    month = parse_month(month_text)
    url = await fresh_database(settings, name)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    print(
        f"seeding {'and settling ' if settle else ''}{members:,} members (not timed)…", flush=True
    )
    await seed_population(conn, members, month, None)
    products = await load_products(conn, month)
    for first in range(1, members + 1, 5_000) if settle else ():
        await settle_chunk(conn, month, "bench", first, min(first + 4_999, members), products)
    await install_defaults(conn)
    await conn.execute("UPDATE member SET quiet_start = NULL, quiet_end = NULL")
    return url, conn


async def drop_database(settings: Settings, name: str) -> None:
    admin = await connect(settings.db_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def run_bench(
    main: Callable[..., Coroutine[Any, Any, None]],
    doc: str | None,
    members: int = 100_000,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """The command line every benchmark shares: --members, --month, --keep, and the benchmark's
    own `options`, passed to `main` by keyword after those three."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=members)
    parser.add_argument("--month", default="2026-11")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    if options is not None:
        options(parser)
    args = vars(parser.parse_args())
    asyncio.run(main(args.pop("members"), args.pop("month"), args.pop("keep"), **args))


async def start_consumers(settings: Settings) -> list[asyncio.subprocess.Process]:
    """The e-mail, SMS and DLQ consumers of this installation as `telebill consume` processes
    (as a deployment on one box runs them)."""
    return [await start_telebill(settings, ["consume", kind]) for kind in CONSUMERS]


async def start_telebill(
    settings: Settings,
    args: Sequence[str],
    extra_env: dict[str, str] | None = None,
    log: Path | None = None,
) -> asyncio.subprocess.Process:
    """`telebill <args>` as this installation (its settings as TELEBILL_* variables, then
    `extra_env`), its standard error appended to `log` (or dropped)."""
    env = os.environ | settings.process_env() | (extra_env or {})
    telebill = str(Path(sys.executable).parent / "telebill")
    if log is None:
        return await asyncio.create_subprocess_exec(
            telebill, *args, env=env, stdout=DEVNULL, stderr=DEVNULL
        )
    with log.open("ab") as err:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            telebill, *args, env=env, stdout=DEVNULL, stderr=err
        )


def status_kib(pid: int, name: str) -> int:
    """A /proc/<pid>/status figure in KiB (VmRSS now, VmHWM the peak); 0 once it has exited."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """The CPU time (user and system) a process has used so far, and with `reaped` that of its
    children that exited and were waited for; 0 once it has exited itself."""
    try:
        # after the command's name, which may hold spaces: state is field 3, utime 14, stime
        # 15, the reaped children's 16 and 17
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = sum(int(f) for f in fields[11 : 15 if reaped else 13])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """A server and its worker processes (Postfix's master and its daemons, which come and
    go): theirs so far, the exited ones' included once the server has reaped them."""
    return cpu_seconds(pid, reaped=True) + sum(cpu_seconds(k, reaped=True) for k in children(pid))


def descendants(pid: int) -> list[int]:
    """A process's live children, theirs, and so on (a worker's pricing processes are the
    children of its forkserver)."""
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def children(pid: int) -> list[int]:
    """A process's live children (none once it has exited)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


async def drop_topics(settings: Settings) -> None:
    """Delete the topics of the run's prefix (see telebill.stack.kafka_topics.delete_topics)."""
    names = await topic_names(settings.kafka_servers)
    await delete_topics(
        settings.kafka_servers, {t for t in names if t.startswith(settings.topic_prefix)}
    )
