"""The member's bill page in headless Chromium at a phone's size (Playwright driving the
machine's Chromium), opened from the links a member's messages carry: the e-mail's "view in
browser" and AlimTalk's button. It shows the amount due, the due date and every item, fits the
screen, loads nothing from elsewhere, breaks none of its own policies and runs nothing of a
hostile member name; an altered or expired link shows the one 404 page. Screenshots are kept
under test-output/bill-page/."""

from __future__ import annotations

from playwright.async_api import Page, async_playwright, expect

from telebill.channels.links import PAGE_PATH
from telebill.config import Settings
from telebill.domain.bill_link import LinkClaims, sign
from telebill.rendering.render import date_ko, won
from tests.integration.bill_page_phone import OUTPUT, PHONE, chromium, view_in_browser
from tests.integration.conftest import Databases
from tests.integration.web_server import KEY, PRETEND, billed, web_server

HOSTILE = '<img src=x onerror="window.pwned = 1"><script>window.pwned = 2</script>김민수'


async def fits(page: Page) -> bool:
    return bool(
        await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    )


async def test_a_member_opens_their_bill_on_a_phone(
    databases: Databases, settings: Settings
) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    b = await billed(databases, settings, 3)
    bill_id, context = next(iter(b.contexts.items()))
    await b.conn.execute("UPDATE member SET name = $1 WHERE id = $2", HOSTILE, context.member.id)
    email = await b.message("email", bill_id)
    link = view_in_browser(email.body)
    assert link == (await b.message("alimtalk", bill_id)).link  # AlimTalk's button, the same

    async with web_server(b, "browser"), async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        phone = await browser.new_context(
            viewport=PHONE,
            device_scale_factor=3,
            is_mobile=True,
            has_touch=True,
            locale="ko-KR",
        )
        page = await phone.new_page()
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith((b.url, "data:", "about:")) else elsewhere.append(r.url)
            ),
        )
        refused: list[str] = []  # what the pages' own policies refused: nothing should be
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )

        await page.goto(link)
        await expect(page.locator("html")).to_have_attribute("lang", "ko")
        await expect(page.locator("#amount-due")).to_have_text(won(context.bill.amount_due))
        await expect(page.locator("#due-date")).to_have_text(date_ko(context.bill.due_date))
        letter = page.frame_locator("iframe")
        await expect(letter.locator("#amount-due")).to_have_text(won(context.bill.amount_due))
        for item in context.items:
            await expect(letter.locator("body")).to_contain_text(item.label)
        await expect(letter.locator("body")).to_contain_text(HOSTILE)  # as text
        await expect(letter.locator("#view-in-browser")).to_have_count(0)  # it is the browser
        assert await fits(page)
        frame = page.frames[1]
        assert await frame.evaluate("typeof window.pwned") == "undefined"
        assert await frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        await page.screenshot(path=OUTPUT / "bill.png")

        # the bill's e-mail alone, as long as it is (what the frame scrolls through)
        await page.goto(f"{link}/letter")
        await expect(page.locator("body")).to_contain_text(context.items[-1].label)
        await page.screenshot(path=OUTPUT / "letter.png", full_page=True)

        for bad in (
            link[:-5] + ("A" if link[-5] != "A" else "B") + link[-4:],
            b.url
            + PAGE_PATH
            + sign(
                LinkClaims(bill_id, context.member.id, int(PRETEND.timestamp()) - 1),
                KEY.encode(),
            ),
        ):
            answer = await page.goto(bad)
            assert answer is not None and answer.status == 404
            await expect(page.locator("h1")).to_have_text("청구서를 열 수 없습니다")
            assert await fits(page)
            heading, detail = page.locator("h1"), page.locator("main p").first
            above = await heading.bounding_box(), await detail.bounding_box()
            assert above[0] and above[1] and above[0]["y"] < above[1]["y"]  # read top down
        await page.screenshot(path=OUTPUT / "not-found.png")
        await browser.close()
    assert elsewhere == [], elsewhere
    assert refused == [], refused
    assert (OUTPUT / "bill.png").stat().st_size > 20_000
    await b.conn.close()
