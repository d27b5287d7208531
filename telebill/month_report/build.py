"""Gathers a month's report from PostgreSQL and Temporal and writes it as HTML (`telebill report
--html`, the end of `make demo`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from telebill.config import Settings
from telebill.db.migrate import connect_ready
from telebill.domain.month import parse_month
from telebill.month_report.figures import MonthView, OpenView, StuckBill
from telebill.month_report.page import render_page
from telebill.month_report.queries import (
    ZONE,
    read_delivery,
    read_settlement,
    read_storage,
    scheduled_by_day,
)
from telebill.notify_search import query_link, stuck_query, stuck_workflows, workflow_link

TEMPORAL_TIMEOUT_S = 10.0


async def _stuck(settings: Settings, month: str) -> list[StuckBill] | None:
    """None when Temporal does not answer: the page says so instead of failing."""
    # lazy: temporalio, ~0.25 s of a command's start, for the page's workflow counts only
    from temporalio.service import RPCError

    # lazy: temporalio, ~0.25 s of a command's start, for the page's workflow counts only
    from telebill.temporal_client import connect_client

    try:
        async with asyncio.timeout(TEMPORAL_TIMEOUT_S):
            client = await connect_client(settings)
            found = await stuck_workflows(client, settings, month)
    except (RuntimeError, RPCError, TimeoutError):  # no connection, refused, or too slow
        return None
    return [
        StuckBill(s.workflow_id, s.member_id, workflow_link(settings, s.workflow_id)) for s in found
    ]


async def month_view(settings: Settings, month: str, now: datetime) -> MonthView:
    day = parse_month(month)
    conn = await connect_ready(settings.db_url)
    try:
        settlement = await read_settlement(conn, day)
        delivery = await read_delivery(conn, day)
        scheduled = await scheduled_by_day(conn, day)
        storage = await read_storage(conn, day)
    finally:
        await conn.close()
    open_view = OpenView(
        scheduled,
        await _stuck(settings, month),
        query_link(settings, stuck_query(settings, month)),
    )
    return MonthView(
        month, now.astimezone(ZoneInfo(ZONE)), settlement, delivery, open_view, storage=storage
    )


async def write_report(settings: Settings, month: str, path: Path, now: datetime) -> Path:
    view = await month_view(settings, month, now)
    return await asyncio.to_thread(_write, path, render_page(view))


def _write(path: Path, html: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path.resolve()
