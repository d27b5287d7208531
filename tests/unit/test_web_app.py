"""The bill page's app (telebill/web/) over an in-memory database (tests/fakes/bill_reads.py):
a link shows its bill under strict headers; every other request, whatever is wrong with it (a
byte of the link changed, expired, another member's bill, another path or method, admin
credentials), gets the very same 404 page; the rate limit is per client address; what goes to
the log names nobody."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import cast
from urllib.parse import quote

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient, Response
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from starlette.applications import Starlette

from telebill.channels.links import PAGE_PATH, BillLinks
from telebill.clock import offset_to
from telebill.config import Settings
from telebill.domain.bill_link import LinkClaims, sign
from telebill.service.deps import Deps
from telebill.web.app import create_app
from telebill.web.guard import client_bucket
from telebill.web.pages import LETTER_POLICY, NOT_FOUND, PAGE_POLICY, STYLE
from telebill.web.serve import server_config
from tests.fakes.bill_reads import Bill, BillDeps, BillReads

KEY = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 12, 31, 5, 0, tzinfo=UTC)
BASE = "https://bills.example"


def settings(burst: int = 1_000_000, per_minute: float = 1_000_000.0) -> Settings:
    return Settings(
        web_link_key=SecretStr(KEY),
        web_base_url=BASE,
        clock_offset_s=offset_to(NOW),
        web_rate_burst=burst,
        web_rate_per_minute=per_minute,
    )


S = settings()
LINK = BillLinks.from_settings(S).web_link(7, 3, date(2026, 12, 25))
PATH = LINK.removeprefix(BASE)
TOKEN = PATH.removeprefix(PAGE_PATH)
NAME = "<script>alert(1)</script>김민수"


def client_for(
    app: Starlette, address: str = "198.51.100.7", raise_bugs: bool = True
) -> AsyncClient:
    transport = ASGITransport(app, raise_app_exceptions=raise_bugs, client=(address, 50_000))
    return AsyncClient(transport=transport, base_url="http://bills.test")


def at_now(s: Settings) -> Settings:
    """`s` with its clock at NOW from this moment: the offset is taken when the app is made,
    not when this module was imported (a dated run moves the test's clock after that)."""
    return s.model_copy(update={"clock_offset_s": offset_to(NOW)})


def app_for(reads: BillReads, s: Settings = S) -> Starlette:
    s = at_now(s)
    return create_app(s, BillDeps(s, reads))


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[AsyncClient]:
    async with client_for(app_for(BillReads([Bill(7, 3, NAME), Bill(8, 4, "이영희")]))) as c:
        yield c


async def test_a_link_shows_its_bill_under_strict_headers(client: AsyncClient) -> None:
    page = await client.get(PATH)
    assert page.status_code == 200, page.text
    html = page.text
    assert '<html lang="ko">' in html and 'name="viewport"' in html
    assert 'id="amount-due">132,230원<' in html and "2026년 12월 25일" in html
    assert f'src="{TOKEN}/letter"' in html
    assert NAME not in html and "김민수" not in html  # the frame shows the name, escaped
    h = page.headers
    assert h["content-security-policy"] == PAGE_POLICY
    digest = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in PAGE_POLICY and "script-src" not in PAGE_POLICY
    assert (h["referrer-policy"], h["x-content-type-options"]) == ("no-referrer", "nosniff")
    assert (h["x-frame-options"], h["cache-control"]) == ("DENY", "no-store")
    assert "set-cookie" not in h and "server" not in h

    letter = await client.get(f"{PATH}/letter")
    assert letter.status_code == 200
    assert letter.headers["content-security-policy"] == LETTER_POLICY
    assert letter.headers["x-frame-options"] == "SAMEORIGIN"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;김민수" in letter.text
    assert "<script>" not in letter.text
    for label in ("5G 스탠다드 110GB 기본료", "선택약정 할인 (25%)", "10원 미만 절사"):
        assert label in letter.text


def not_found(answer: Response) -> bool:
    return answer.status_code == 404 and answer.text == NOT_FOUND


# from 1: a request's path starts with its "/" whatever the link says (an HTTP client takes
# ":b/…" for a scheme and sends "/b/…")
@given(st.integers(min_value=1, max_value=len(PATH) - 1), st.characters(exclude_categories=["Cs"]))
async def test_any_character_of_the_link_changed_gets_the_same_404(
    client: AsyncClient, at: int, instead: str
) -> None:
    if unicodedata.category(instead) == "Cc":
        instead = quote(instead)  # as a browser sends it (an HTTP client may send no other)
    altered = PATH[:at] + instead + PATH[at + 1 :]
    if altered != PATH:
        assert not_found(await client.get(altered)), altered
        assert not_found(await client.get(f"{altered}/letter")), altered


async def test_expired_foreign_and_other_requests_get_the_same_404(client: AsyncClient) -> None:
    expired = sign(LinkClaims(7, 3, int(NOW.timestamp()) - 1), KEY.encode())
    others_bill = BillLinks.from_settings(S).web_link(8, 3, date(2026, 12, 25))
    for path in (
        f"{PAGE_PATH}{expired}",
        f"{PAGE_PATH}{expired}/letter",
        others_bill.removeprefix(BASE),  # signed, but bill 8 is member 4's
        "/",
        "/b/",
        "/bills/7",  # the old unsigned link
        "/api/health",
        "/console",
        "/docs",
        "/openapi.json",
        f"{PATH}/",
    ):
        assert not_found(await client.get(path)), path
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert not_found(await client.request(method, PATH)), method


async def test_admin_credentials_mean_nothing_here(client: AsyncClient) -> None:
    """No session, cookie or token is read: with or without them, the same answers."""
    admin = {
        "Authorization": "Bearer anything",
        "X-CSRF-Token": "x",
        "Cookie": "telebill_session=a-console-session",
    }
    for path in (PATH, "/api/months/2026-11/status", "/console"):
        plain = await client.get(path)
        with_admin = await client.get(path, headers=admin)
        assert (plain.status_code, plain.text) == (with_admin.status_code, with_admin.text)
        assert "set-cookie" not in with_admin.headers


async def test_the_limit_is_per_address() -> None:
    app = app_for(BillReads([Bill(7, 3, NAME)]), settings(burst=3, per_minute=1.0))
    async with client_for(app, "203.0.113.5") as one:
        assert [(await one.get(PATH)).status_code for _ in range(4)] == [200, 200, 200, 429]
        refused = await one.get("/b/anything")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["content-security-policy"] == PAGE_POLICY
        assert "잠시 후 다시 시도해 주세요" in refused.text
        assert (await one.get("/healthz")).status_code == 200  # the proxy's checks: free
    async with client_for(app, "203.0.113.6") as another:
        assert (await another.get(PATH)).status_code == 200


async def test_an_ipv6_client_is_limited_by_its_64() -> None:
    """A subscriber may use any address of its /64: rotating through them gets no more."""
    app = app_for(BillReads([Bill(7, 3, NAME)]), settings(burst=3, per_minute=1.0))
    rotated = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3", "2001:db8:1:2::4"]
    codes = []
    for address in rotated:
        async with client_for(app, address) as c:
            codes.append((await c.get(PATH)).status_code)
    assert codes == [200, 200, 200, 429]
    async with client_for(app, "2001:db8:1:3::1") as next_64:  # another subscriber's
        assert (await next_64.get(PATH)).status_code == 200
    # an IPv4 client seen through a dual-stack socket is the IPv4 address's bucket
    for address, expected in [
        ("203.0.113.9", 200),
        ("203.0.113.9", 200),
        ("::ffff:203.0.113.9", 200),
        ("::ffff:203.0.113.9", 429),
    ]:
        async with client_for(app, address) as c:
            assert (await c.get(PATH)).status_code == expected, address


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("192.0.2.1", "192.0.2.1"),
        ("-", "-"),
    ],
)
def test_the_bucket_of_an_address(address: str, bucket: str) -> None:
    assert client_bucket(address) == bucket


class Pool:
    """Stands for the page's asyncpg pool: hands out `conn`, or none at all when `stuck`."""

    def __init__(self, conn: BillReads, stuck: bool = False) -> None:
        self.conn, self.stuck, self.lent = conn, stuck, 0

    # asyncpg's own signature (Pool.acquire(timeout=...)), which telebill.service.deps calls
    async def acquire(self, timeout: float | None = None) -> BillReads:  # noqa: ASYNC109
        if self.stuck:  # every connection busy: asyncpg waits up to `timeout`, then raises
            await asyncio.wait_for(asyncio.Event().wait(), timeout)
        self.lent += 1
        return self.conn

    async def release(self, conn: BillReads) -> None:
        self.lent -= 1


async def test_no_connection_in_time_is_503_with_retry_after() -> None:
    """Requests do not wait without end for a pooled connection: past
    TELEBILL_WEB_DB_ACQUIRE_TIMEOUT_S the page says "later" (the process's deps carry it,
    telebill/service/bootstrap.py's web_process)."""
    reads = BillReads([Bill(7, 3, NAME)])
    free = Pool(reads)
    s = at_now(S)
    app = create_app(s, Deps(s, cast(asyncpg.Pool, free), acquire_timeout=0.05))
    async with client_for(app) as c:
        assert (await c.get(PATH)).status_code == 200
    assert free.lent == 0  # given back
    stuck = Pool(reads, stuck=True)
    app = create_app(s, Deps(s, cast(asyncpg.Pool, stuck), acquire_timeout=0.05))
    async with client_for(app) as c:
        # bounded only so that a page that waits for ever fails here rather than hangs
        answer = await asyncio.wait_for(c.get(PATH), 30)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
    assert answer.headers["content-security-policy"] == PAGE_POLICY
    assert stuck.lent == 0


def test_the_server_bounds_what_it_holds_at_once() -> None:
    s = settings().model_copy(update={"web_limit_concurrency": 7})
    config = server_config(s, "127.0.0.1", 58081)
    assert config.limit_concurrency == 7 and config.access_log is False
    assert Settings().web_limit_concurrency == 100 and Settings().web_db_acquire_timeout_s == 5.0


async def test_the_database_away_is_503_and_a_bug_500_both_naming_nobody(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="telebill.web")
    away = BillReads([Bill(7, 3, NAME)], away=ConnectionRefusedError("PostgreSQL is down"))
    async with client_for(app_for(away)) as c:
        answer = await c.get(PATH)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert answer.headers["content-security-policy"] == PAGE_POLICY
    bug = BillReads([Bill(7, 3, NAME)], away=RuntimeError("a bug"))
    async with client_for(app_for(bug), raise_bugs=False) as c:
        answer = await c.get(PATH)
    assert answer.status_code == 500 and "문제가 발생했습니다" in answer.text
    assert answer.headers["content-security-policy"] == PAGE_POLICY
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /b/{token} 503" in logged and "unexpected error" in logged
    assert TOKEN not in caplog.text and TOKEN[:12] not in caplog.text


async def test_the_log_says_the_route_never_the_link(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telebill.web")
    await client.get(PATH)
    await client.get(f"{PATH}/letter")
    await client.get("/b/" + "x" * 76)
    await client.get("/someone@example.com/7")
    lines = [r.getMessage() for r in caplog.records if r.name == "telebill.web"]
    assert [re.sub(r" \d+ ms$", "", line) for line in lines] == [
        "GET /b/{token} 200",
        "GET /b/{token}/letter 200",
        "GET /b/{token} 404",
        "GET (no route) 404",
    ]
    assert TOKEN not in caplog.text and "someone" not in caplog.text and "198.51" not in caplog.text
