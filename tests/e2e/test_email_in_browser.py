"""The previewed e-mail of a settled bill, opened in headless Chromium: what a person sees.

Chromium prints the page to PDF and pdftotext reads back the text that was laid out, so the test
checks what is visible, not just what is in the HTML. A screenshot is kept under test-output/.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from telebill.config import PROJECT_ROOT
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.rendering.render import won
from telebill.seed.load import seed_population
from telebill.templates.store import install_defaults
from tests.helpers import run_cli
from tests.integration.conftest import Databases

OUTPUT = PROJECT_ROOT / "test-output" / "email-in-browser"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]


def chromium(url: str, *flags: str) -> None:
    with tempfile.TemporaryDirectory(prefix="telebill-chromium-") as profile:
        subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
            check=True,
            capture_output=True,
            timeout=120,
        )


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


async def test_previewed_email_shows_amount_due_and_every_item(databases: Databases) -> None:
    assert shutil.which("chromium"), (
        "chromium missing: `make test` installs it (scripts/system-deps.sh)"
    )
    url = await databases.create()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        month = parse_month("2026-11")
        await seed_population(conn, 30, month, None, workers=1)
        await settle_chunk(
            conn, month, "settlement-2026-11", 1, 30, await load_products(conn, month)
        )
        await install_defaults(conn)
        bill_id, amount_due = await conn.fetchrow(
            "SELECT b.id, b.amount_due FROM bill b JOIN bill_item i ON i.bill_id = b.id "
            "GROUP BY b.id, b.amount_due ORDER BY count(*) DESC, b.id LIMIT 1"
        )  # type: ignore[misc]
        labels = [
            r[0]
            for r in await conn.fetch("SELECT label FROM bill_item WHERE bill_id = $1", bill_id)
        ]
    finally:
        await conn.close()

    OUTPUT.mkdir(parents=True, exist_ok=True)
    page = OUTPUT / f"bill-{bill_id}.html"
    result = await asyncio.to_thread(
        run_cli,
        "templates",
        "preview",
        "--bill",
        str(bill_id),
        "--out",
        str(page),
        env={"DATABASE_URL": url},
    )
    assert result.returncode == 0, result.stderr
    assert str(page.resolve()) in result.stdout

    screenshot, pdf = OUTPUT / f"bill-{bill_id}.png", OUTPUT / f"bill-{bill_id}.pdf"
    await asyncio.to_thread(
        chromium, page.as_uri(), "--window-size=800,1400", f"--screenshot={screenshot}"
    )
    await asyncio.to_thread(
        chromium, page.as_uri(), "--no-pdf-header-footer", f"--print-to-pdf={pdf}"
    )
    assert (
        screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    )
    visible = await asyncio.to_thread(pdf_text, pdf)
    assert won(amount_due) in visible
    assert len(labels) >= 4
    for label in labels:
        assert label in visible, label
