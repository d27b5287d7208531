"""The month report of a settled and delivered month, opened in headless Chromium.

The month goes through the real message platform (Kafka, the e-mail, SMS and dead-letter
consumers, PostgreSQL) with failures on purpose: e-mail failing at random, members whose e-mail
or both addresses always fail, members inside their quiet hours, members the settlement refuses.
Chromium prints the page to PDF and pdftotext reads back what was laid out; Chromium's network log
shows that opening the page requested nothing from any host.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from activities.settlement import SettlementActivities
from activities.settlement_pool import PricingPool
from telebill.config import PROJECT_ROOT, Settings
from telebill.contracts.settlement import CloseInput
from telebill.db.delivery_store import Published, mark_published
from telebill.db.month_views import MONTHLY
from telebill.db.notify_store import PlannedSend, record_plans
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.db_roles import DbRole
from telebill.domain.month import parse_month
from telebill.month_report.build import month_view, write_report
from telebill.rendering.render import won
from telebill.seed.load import seed_population
from tests.e2e.test_email_in_browser import chromium, pdf_text
from tests.helpers import all_by_email
from tests.integration.conftest import Databases
from tests.integration.delivery_platform import Platform, event, platform_of
from workers.temporal_worker import create_pool

OUTPUT = PROJECT_ROOT / "test-output" / "month-report"
MONTH = "2026-11"
MEMBERS = 2_000
REFUSED = 4  # members added after the platform's, with negative usage
SCHEDULED = 100  # planned for later days, not published
QUIET = 10  # inside their quiet hours now: deferred
# platform_of makes member 1 fail on both channels and member 2 by e-mail only
DEAD_MEMBERS, EMAIL_ONLY = 1, 1
SECTIONS = (
    "저장 · Storage",
    "정산 · Settlement",
    "Totals per line kind",
    "Distribution of amounts due",
    "Refused members",
    "전달 · Delivery",
    "by channel",
    "Outcome funnel",
    "Deferrals by reason",
    "Latency percentiles",
    "Dead letters by reason",
    "남은 일 · What is open",
    "Scheduled by day",
    "STUCK notifications",
)


async def _settle_with_refusals(platform: Platform) -> None:
    """Members the settlement refuses, then the month's settlement record."""
    conn, month = platform.conn, parse_month(MONTH)
    await seed_population(conn, MEMBERS + REFUSED, month, None, workers=1)
    await all_by_email(conn)
    await conn.execute(
        "UPDATE usage_monthly SET data_mb = -5 WHERE member_id > $1 AND billing_month = $2",
        MEMBERS,
        month,
    )
    async with as_worker(platform) as pool:
        activities = SettlementActivities(pool, PricingPool(0))
        await activities.open_settlement(f"settlement-{MONTH}", MONTH)
        await settle_chunk(
            conn,
            month,
            f"settlement-{MONTH}",
            MEMBERS + 1,
            MEMBERS + REFUSED,
            await load_products(conn, month),
        )
        await activities.close_settlement(
            CloseInput(settlement_id=f"settlement-{MONTH}", month=MONTH)
        )


@asynccontextmanager
async def as_worker(platform: Platform) -> AsyncIterator[asyncpg.Pool]:
    """The settlement's activities as the worker's database role (the platform's pool is the
    consumers')."""
    pool = await create_pool(platform.settings, DbRole.WORKER)
    try:
        yield pool
    finally:
        await pool.close()


async def _deliver(platform: Platform) -> list[tuple[int, int]]:
    conn = platform.conn
    bills = [
        (r["id"], r["member_id"])
        for r in await conn.fetch(
            "SELECT id, member_id FROM bill WHERE billing_month = $1 ORDER BY member_id",
            parse_month(MONTH),
        )
    ]
    now = datetime.now(ZoneInfo("Asia/Seoul"))
    later, sent = bills[-SCHEDULED:], bills[:-SCHEDULED]
    quiet = [m for _, m in sent[10 : 10 + QUIET]]
    await conn.execute(
        "UPDATE member SET quiet_start = $2, quiet_end = $3 WHERE id = ANY($1::bigint[])",
        quiet,
        time((now.hour - 1) % 24),
        time((now.hour + 2) % 24),
    )
    await record_plans(
        conn,
        MONTHLY,
        [
            PlannedSend(b, f"wf-{b}", now + timedelta(days=1 + i % 3))
            for i, (b, _) in enumerate(later)
        ],
    )
    await mark_published(conn, [Published(b, MONTHLY, f"wf-{b}", now) for b, _ in sent])
    await platform.publish_to(platform.topics.channel("email"), *(event(b, m) for b, m in sent))

    async def final() -> bool:
        open_ = await conn.fetchval(
            "SELECT count(*) FROM notification n WHERE n.status = 'PENDING' "
            "AND n.published_at IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM deferred_event d WHERE d.bill_id = n.bill_id)"
        )
        return bool(open_ == 0)

    await platform.run_until(final, within=180)
    return sent


async def test_month_report_in_browser(databases: Databases, settings: Settings) -> None:
    own_queue = settings.model_copy(update={"task_queue": f"report-{uuid.uuid4().hex[:8]}"})
    async with platform_of(databases, own_queue, MEMBERS) as platform:
        platform.settings = platform.settings.model_copy(update={"email_failure_rate": 0.2})
        await _settle_with_refusals(platform)
        sent = await _deliver(platform)
        s = platform.settings
        view = await month_view(s, MONTH, datetime.now(ZoneInfo("Asia/Seoul")))
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page = await write_report(s, MONTH, OUTPUT / f"{MONTH}.html", datetime.now())

    # What the page is made of: the database's truth.
    r, f = view.settlement.record, view.delivery.funnel
    assert (r.bills, r.errors) == (MEMBERS, REFUSED)
    assert [x.members for x in view.settlement.refusals] == [REFUSED]
    assert "negative data_mb" in view.settlement.refusals[0].reason
    assert sum(n for _, n in view.settlement.histogram) == MEMBERS
    assert f.total == MEMBERS and f.scheduled == SCHEDULED
    assert f.dead_letter == DEAD_MEMBERS
    # every member chose e-mail: each SMS is a fallback, and the chart draws each channel
    assert f.of("sms").chosen == 0 and f.of("sms").fallback >= EMAIL_ONLY
    assert f.email_first_try + f.email_after_retries == f.of("email").chosen
    assert f.email_after_retries > 0  # a fifth of the first tries failed
    assert f.in_flight == QUIET  # held by their quiet hours
    assert view.delivery.deferrals == {"quiet hours": QUIET}
    assert sum(n for _, _, n in view.delivery.per_bin) == len(sent) - QUIET - DEAD_MEMBERS
    assert [d.letters for d in view.delivery.dead_letters] == [DEAD_MEMBERS]
    assert sum(n for _, n in view.open.scheduled_by_day) == SCHEDULED
    assert view.open.stuck == []  # Temporal answered, and no workflow of this queue is stuck
    assert view.storage is not None  # the month's six partitions, its bills counted
    assert [p.table for p in view.storage.partitions][:2] == ["bill", "bill_item"]
    assert view.storage.partitions[0].rows == MEMBERS and view.storage.index_bytes > 0

    # What a person sees.
    screenshot, pdf = OUTPUT / f"{MONTH}.png", OUTPUT / f"{MONTH}.pdf"
    await asyncio.to_thread(
        chromium, page.as_uri(), "--window-size=1100,3600", f"--screenshot={screenshot}"
    )
    await asyncio.to_thread(
        chromium, page.as_uri(), "--no-pdf-header-footer", f"--print-to-pdf={pdf}"
    )
    assert screenshot.stat().st_size > 50_000
    visible = " ".join((await asyncio.to_thread(pdf_text, pdf)).split())
    for title in SECTIONS:
        assert title in visible, title
    assert won(r.amount_due) in visible
    assert f"{f.email_first_try:,}" in visible
    assert await asyncio.to_thread(_seen_requests, page) == []


def _requests_to_hosts(netlog: Path) -> list[str]:
    """URLs the page asked for over the network. Chromium's own background requests (update
    checks, its clock) carry no page origin as initiator and are not the page's."""
    log = json.loads(netlog.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    starts = [e.get("params", {}) for e in log["events"] if e["type"] == start_job]
    return sorted(
        str(p["url"]) for p in starts if "url" in p and p.get("initiator") != "not an origin"
    )


def _seen_requests(page: Path) -> list[str]:
    netlog = page.with_suffix(".netlog.json")
    chromium(page.as_uri(), "--dump-dom", f"--log-net-log={netlog}")  # exits once loaded
    return _requests_to_hosts(netlog)


def test_the_network_log_shows_a_pages_request(tmp_path: Path) -> None:
    """The check above can fail: a page with one image from a host is caught."""
    page = tmp_path / "fetching.html"
    page.write_text('<html><body><img src="http://127.0.0.1:9/chart.png"></body></html>')
    assert _seen_requests(page) == ["http://127.0.0.1:9/chart.png"]


async def test_report_says_when_temporal_does_not_answer(
    databases: Databases, settings: Settings
) -> None:
    async with platform_of(databases, settings, 20) as platform:
        async with as_worker(platform) as pool:
            await SettlementActivities(pool, PricingPool(0)).open_settlement(
                f"settlement-{MONTH}", MONTH
            )
        away = platform.settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
        view = await month_view(away, MONTH, datetime.now())
    assert view.open.stuck is None
