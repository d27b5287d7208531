"""A settled month in a throw-away database, the links its messages carry, and a real
`telebill web serve` process serving it: what the bill page's HTTP and browser tests share."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from pydantic import SecretStr

from telebill.channels import channel
from telebill.channels.base import RenderedMessage
from telebill.channels.links import BillLinks
from telebill.clock import offset_to
from telebill.config import PROJECT_ROOT, Settings, asyncpg_dsn
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.rendering.context import BillContext
from telebill.seed.load import seed_population
from telebill.templates.bills import load_contexts
from telebill.templates.store import get_template, install_defaults
from tests.helpers import free_low_ports
from tests.integration.conftest import Databases

TELEBILL = str(Path(sys.executable).parent / "telebill")
MONTH = "2026-11"
PRETEND = datetime(2026, 12, 31, 14, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # its bills all due
KEY = "a-test-key-of-the-bill-links-0123456789"


@dataclass
class Billed:
    settings: Settings  # the installation, its links pointing at `url`
    conn: asyncpg.Connection  # as the database's owner
    url: str  # where the page is served
    contexts: dict[int, BillContext]  # each bill as its messages render it, link and all

    async def message(self, name: str, bill_id: int) -> RenderedMessage:
        """The bill's message on `name` as the consumer renders it (the active template)."""
        template = await get_template(self.conn, name)
        return channel(name).render(template, self.contexts[bill_id])


async def billed(
    databases: Databases, settings: Settings, members: int, **changes: object
) -> Billed:
    """`members` members with a settled MONTH, the default templates installed, the clock
    where every bill is due, and a port for the page that the links point at."""
    url = await databases.create()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    month = parse_month(MONTH)
    await seed_population(conn, members, month, None, workers=1)
    await install_defaults(conn)
    await settle_chunk(conn, month, "s", 1, members, await load_products(conn, month))
    page = f"http://127.0.0.1:{free_low_ports(1)}"
    s = settings.beside(
        f"web{uuid.uuid4().hex[:8]}",
        url,
        clock_offset_s=offset_to(PRETEND),
        web_link_key=SecretStr(KEY),
        web_base_url=page,
        **changes,
    )
    ids = [r["id"] for r in await conn.fetch("SELECT id FROM bill ORDER BY id")]
    contexts = await load_contexts(conn, ids, BillLinks.from_settings(s))
    return Billed(s, conn, page, contexts)


@asynccontextmanager
async def web_server(billed: Billed, name: str) -> AsyncIterator[Path]:
    """`telebill web serve` for the installation, until the block ends; yields its log."""
    log = PROJECT_ROOT / "test-output" / "web" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    s = billed.settings
    env = (
        os.environ
        | s.process_env()
        | {
            "TELEBILL_WEB_PORT": billed.url.rsplit(":", 1)[1],
            "TELEBILL_WEB_RATE_BURST": str(s.web_rate_burst),
            "TELEBILL_WEB_RATE_PER_MINUTE": str(s.web_rate_per_minute),
        }
    )
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            TELEBILL, "web", "serve", env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=billed.url) as probe:
            for _ in range(300):
                assert process.returncode is None, log.read_text()
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the bill page did not answer: {log.read_text()}")
        yield log
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)
