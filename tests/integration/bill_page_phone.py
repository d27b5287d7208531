"""A bill page opened the way a member opens it: the "view in browser" link of the e-mail they
received, in headless Chromium at a phone's size (Playwright driving the machine's Chromium)."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.async_api import ViewportSize, async_playwright, expect

from telebill.config import PROJECT_ROOT

OUTPUT = PROJECT_ROOT / "test-output" / "bill-page"
PHONE = ViewportSize(width=390, height=844)  # a common phone's CSS pixels
_VIEW_IN_BROWSER = re.compile(r'href="([^"]+)" style="[^"]*" id="view-in-browser"')


def view_in_browser(html: str) -> str:
    """The e-mail's "view in browser" link."""
    found = _VIEW_IN_BROWSER.search(html)
    assert found is not None, "the e-mail has no 'view in browser' link"
    return found.group(1)


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium missing: `make test` installs it (scripts/system-deps.sh)")
    return found


async def opened_on_a_phone(links: list[tuple[str, str]]) -> None:
    """Each (link, amount due as the page writes it): the page shows that amount on a phone's
    screen without scrolling sideways; the last one is kept as a screenshot."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        phone = await browser.new_context(
            viewport=PHONE, device_scale_factor=3, is_mobile=True, has_touch=True, locale="ko-KR"
        )
        page = await phone.new_page()
        for link, amount in links:
            answer = await page.goto(link)
            assert answer is not None and answer.status == 200, link
            await expect(page.locator("#amount-due")).to_have_text(amount)
            await expect(page.frame_locator("iframe").locator("#amount-due")).to_have_text(amount)
            assert await page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth + 1"
            )
        await page.screenshot(path=OUTPUT / "from-a-delivered-e-mail.png")
        await browser.close()
