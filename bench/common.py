"""Helpers shared by the benchmarks: a throw-away database beside the main one."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy.engine import make_url

from telebill.config import Settings
from telebill.db import migrate as migrations
from telebill.db.connect import connect


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


async def drop_database(settings: Settings, name: str) -> None:
    admin = await connect(settings.db_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def run_bench(main: Callable[[int, str, bool], Coroutine[Any, Any, None]], doc: str | None) -> None:
    """The command line every benchmark shares: --members, --month, --keep."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--month", default="2026-11")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    asyncio.run(main(args.members, args.month, args.keep))
