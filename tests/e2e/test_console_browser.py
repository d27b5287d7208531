"""The web console in headless Chromium (Playwright driving the machine's Chromium): sign in,
edit a template and watch the preview follow, activate it, replay a dead letter and see it
delivered, reserve a send. Screenshots are kept under test-output/console/."""

from __future__ import annotations

import shutil

import pytest
from playwright.async_api import Dialog, Page, async_playwright, expect

from telebill.config import PROJECT_ROOT, Settings
from telebill.domain.roles import Role
from tests.integration.api_server import ApiServer, api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, running
from tests.integration.test_api import settled, until

OUTPUT = PROJECT_ROOT / "test-output" / "console"
NEW_SMS = (
    "[Telebill] {{ member.name }}님, {{ bill.billing_month|month_ko }} "
    "요금 {{ bill.amount_due|won }}"
)


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=OUTPUT / f"{name}.png", full_page=True)


async def sign_in(page: Page, api: ApiServer) -> None:
    await page.goto(f"{api.url}/console")
    await expect(page).to_have_url(f"{api.url}/console/login")
    await page.fill("input[name=token]", api.tokens[Role.ADMIN])
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("월 현황 Month status")


async def test_console_template_dead_letter_and_reservation(
    databases: Databases, settings: Settings
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium missing: `make test` installs it (scripts/system-deps.sh)")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    stack = await settled(databases, settings, failing=(5,))
    async with running(stack), api_server(stack, "console") as api:
        async with api.client(Role.OPERATOR) as op:
            assert (await op.post(f"/api/months/{MONTH}/send-now", json={})).status_code == 200
        await until(stack, "SELECT count(*) FROM dead_letter", 1)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            elsewhere: list[str] = []
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url.startswith((api.url, "data:", "about:"))
                    else elsewhere.append(r.url)
                ),
            )

            async def accept(dialog: Dialog) -> None:
                await dialog.accept()

            page.on("dialog", accept)
            refused: list[str] = []  # what the page's own policy refused: nothing should be
            page.on(
                "console",
                lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
            )
            await sign_in(page, api)
            await page.goto(f"{api.url}/console?month_id={MONTH}")
            await expect(page.locator("table.funnel")).to_contain_text("이메일 전달")
            await shot(page, "1-month")

            # the template editor: the preview follows the text as it is typed
            await page.goto(f"{api.url}/console/templates/sms/monthly_bill")
            preview = page.locator("#preview-text")
            await expect(preview).to_contain_text("청구요금")
            bill = await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = 2")
            name = await stack.conn.fetchval("SELECT name FROM member WHERE id = 2")
            await page.fill("input[name=bill_id]", str(bill))
            await page.fill("textarea[name=body]", NEW_SMS)
            await expect(preview).to_contain_text(f"{name}님, ")
            await expect(preview).not_to_contain_text("청구요금")
            await expect(page.locator("#preview-meta")).to_contain_text("bytes (EUC-KR)")
            await page.fill("textarea[name=body]", NEW_SMS + " {{ nope }")
            await expect(page.locator("#preview-error")).to_be_visible()
            await page.fill("textarea[name=body]", NEW_SMS)
            await expect(page.locator("#preview-error")).to_be_hidden()
            await shot(page, "2-template-editor")
            await page.check("input[name=activate]")
            await page.click("#template-form button[type=submit]")
            await expect(page.locator("#flash")).to_contain_text("완료 Done")
            active = await stack.conn.fetchrow(
                "SELECT version, body FROM message_template "
                "WHERE channel = 'sms' AND code = 'monthly_bill' AND active"
            )
            assert active is not None and active["body"] == NEW_SMS and active["version"] == 2
            # back to version 1 from the versions table
            await page.wait_for_load_state("load")
            await page.reload()
            await page.click("text=사용 Activate v1")
            await expect(page.locator("#flash")).to_contain_text("완료 Done")
            assert (
                await stack.conn.fetchval(
                    "SELECT version FROM message_template WHERE channel = 'sms' AND active"
                )
                == 1
            )

            # the e-mail's preview: the rendered HTML in a sandboxed frame
            await page.goto(f"{api.url}/console/templates/email/monthly_bill")
            await expect(page.locator("#preview-meta")).to_contain_text("EMAIL")
            await expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text("원")
            await shot(page, "2b-email-editor")

            # a dead letter replayed after the member's address was corrected: delivered
            await stack.conn.execute("UPDATE member SET email = 'fixed@example.com' WHERE id = 5")
            await page.goto(f"{api.url}/console/dead-letters")
            await shot(page, "3-dead-letters")
            await page.click("text=재처리 Replay >> nth=-1")
            await expect(page.locator("#flash")).to_contain_text("replayed")
            await until(
                stack,
                "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
                "WHERE b.member_id = 5 AND n.status = 'DELIVERED_EMAIL'",
                1,
            )
            await page.goto(f"{api.url}/console/bills?member=5")
            await expect(page.locator("main table")).to_contain_text("DELIVERED_EMAIL")
            await shot(page, "4-bills-member-5")

            # a reserved send
            await page.goto(f"{api.url}/console/reservations")
            await page.fill("input[name=at]", "2027-01-05T10:00")
            await page.fill("input[name=month]", MONTH)
            await page.fill("input[name=members]", "3")
            await page.click("form.card button[type=submit]")
            await expect(page.locator("#flash")).to_contain_text("완료 Done")
            await page.reload()
            await expect(page.locator("main table")).to_contain_text("2027-01-05 10:00 KST")
            await shot(page, "5-reservations")
            await browser.close()
    assert elsewhere == []
    assert refused == [], refused
    assert await stack.conn.fetchval("SELECT count(*) FROM reserved_send") == 1
    actions = [r[0] for r in await stack.conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions == [
        "send-now",
        "sign-in",  # the console's own sessions are audited too
        "template-add",
        "template-activate",
        "dlq-replay",
        "member-read",  # the bills page showed member 5's contact data to an admin
        "reserve",
    ]


HOSTILE = (
    '<meta http-equiv=refresh content="0;url=http://evil.example">'
    '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    '<form data-api="POST /api/templates/email/monthly_bill/activate">'
    '<input name="version" value="1"><button type="submit" id="bait">go</button></form>'
)


async def test_hostile_text_in_every_field_shows_as_text_and_acts_on_nothing(
    databases: Databases, settings: Settings
) -> None:
    """The PoC of issue 31: a login error, a member's name, a dead letter's reason and its
    errors, a blackout window's name, all holding markup, a script and a form aimed at the API;
    every console page shows them as text, runs nothing and submits nothing of theirs."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium missing: `make test` installs it (scripts/system-deps.sh)")
    stack = await settled(databases, settings)
    c = stack.conn
    await c.execute("UPDATE member SET name = $1 WHERE id = 3", HOSTILE)
    bill = await c.fetchval("SELECT id FROM bill WHERE member_id = 3")
    await c.execute(
        "INSERT INTO dead_letter (letter_key, bill_id, reason, event, first_error, "
        "last_error) VALUES ('x', $1, $2, '{}', $2, $2)",
        bill,
        HOSTILE,
    )
    await c.execute(
        "INSERT INTO blackout_window (name, start_time, end_time) VALUES ($1, '01:00', '02:00')",
        HOSTILE[:64],
    )
    async with api_server(stack, "hostile-console") as api, async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = await browser.new_page()
        away: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(api.url) else away.append(r.url))
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method != "GET" else None)
        await page.goto(f"{api.url}/console/login?error={HOSTILE}")
        await expect(page.locator("body")).to_contain_text("http-equiv=refresh")
        await sign_in(page, api)
        for path in (
            "/console/bills?member=3",
            "/console/dead-letters",
            "/console/blackouts",
            f"/console/stuck?month_id={MONTH}",
            f"/console?month_id={MONTH}",
        ):
            await page.goto(api.url + path)
            assert await page.evaluate("window.pwned") is None, path
            # nothing of the text became an element: the page's one script is its own
            assert await page.locator("script").count() == 1, path
            for planted in ("#bait", "meta[http-equiv]", "img[onerror]"):
                assert await page.locator(planted).count() == 0, (path, planted)
        await page.goto(f"{api.url}/console/bills?member=3")
        await expect(page.locator("body")).to_contain_text("<script>window.pwned = 1</script>")
        await browser.close()
    assert away == []
    assert [u for u in posts if "/api/" in u] == []
    active = await c.fetchval(
        "SELECT version FROM message_template WHERE channel = 'email' AND active"
    )
    assert active == 1
