"""The bill page's service (telebill/service/bill_page.py) on an in-memory database: a link
opens its member's bill; every link that does not, whatever is wrong with it, does exactly the
same database work as every other (the same queries with the same arguments), so that neither
the answer nor its time says what was wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from telebill.channels.links import PAGE_PATH, BillLinks
from telebill.clock import offset_to
from telebill.config import Settings
from telebill.domain.bill_link import LinkClaims, sign
from telebill.service import bill_page
from tests.fakes.bill_reads import Bill, BillDeps, BillReads

KEY = b"0123456789abcdef0123456789abcdef"
DUE = date(2026, 12, 25)
NOW = datetime(2026, 12, 31, 5, 0, tzinfo=UTC)
LINKS = BillLinks("https://bills.example", KEY, 60, ZoneInfo("Asia/Seoul"))


def token(bill: int, member: int) -> str:
    return LINKS.web_link(bill, member, DUE).removeprefix(f"https://bills.example{PAGE_PATH}")


@pytest.fixture
def reads() -> BillReads:
    return BillReads([Bill(7, 3, "<b>김민수</b>"), Bill(8, 4, "이영희")])


@pytest.fixture
def deps(reads: BillReads) -> BillDeps:
    s = Settings(web_link_key=SecretStr(KEY.decode()), clock_offset_s=offset_to(NOW))
    return BillDeps(s, reads)


async def test_a_link_opens_its_members_bill_and_its_letter(deps: BillDeps) -> None:
    found = await bill_page.bill(deps, KEY, token(7, 3))
    assert found is not None and (found.bill.id, found.member.id) == (7, 3)
    assert found.bill.due_date == DUE and found.link == ""
    letter = await bill_page.letter(deps, KEY, token(7, 3))
    assert letter is not None and "132,230원" in letter and "2026년 12월 25일" in letter
    assert "&lt;b&gt;김민수&lt;/b&gt;" in letter and "<b>김민수" not in letter  # escaped
    assert "브라우저에서 보기" not in letter  # the page does not offer itself


def changed(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


FAILURES = {
    "not a token": "nope",
    "a character changed": changed(token(7, 3), 10),
    "another key": sign(LinkClaims(7, 3, 2_000_000_000), b"another key, thirty-two bytes!!!"),
    "expired": sign(LinkClaims(7, 3, int(NOW.timestamp()) - 1), KEY),
}


async def test_every_failure_does_the_same_work_and_gets_the_same_none(
    deps: BillDeps, reads: BillReads
) -> None:
    work = {}
    for why, bad in FAILURES.items():
        reads.queries.clear()
        assert await bill_page.bill(deps, KEY, bad) is None, why
        assert await bill_page.letter(deps, KEY, bad) is None, why
        work[why] = list(reads.queries)
    assert len({repr(w) for w in work.values()}) == 1, work
    # the same work as a good link's, but for a bill no bill is
    reads.queries.clear()
    await bill_page.bill(deps, KEY, token(7, 3))
    assert [sql for sql, _ in reads.queries] == [sql for sql, _ in work["expired"][:3]]
    assert work["expired"][0][1] == ([bill_page.NO_BILL],)


async def test_a_good_signature_on_a_bill_that_is_not_the_members_opens_nothing(
    deps: BillDeps, reads: BillReads
) -> None:
    refused = []
    for signed in (token(8, 3), token(9, 3)):  # bill 8 is member 4's; no bill 9 (archived)
        reads.queries.clear()
        assert await bill_page.bill(deps, KEY, signed) is None
        assert await bill_page.letter(deps, KEY, signed) is None
        refused.append([sql for sql, _ in reads.queries])
    # the same queries as a link that does not hold at all (their bill's id, not NO_BILL):
    # what tells the refusals apart in time is asserted here, without a clock
    reads.queries.clear()
    await bill_page.bill(deps, KEY, FAILURES["expired"])
    await bill_page.letter(deps, KEY, FAILURES["expired"])
    assert refused == [[sql for sql, _ in reads.queries]] * 2
