"""The operator's commands against a running installation: dispatch (catch-up), resend by SMS,
a preference change refused with its reason, status, and a second dispatch finding nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from telebill.config import Settings
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, NotifyStack, prepare, running

MEMBERS = 12
TELEBILL = str(Path(sys.executable).parent / "telebill")


async def cli(stack: NotifyStack, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [TELEBILL, *args], env=stack.env(), capture_output=True, text=True
    )


async def until(stack: NotifyStack, sql: str, wanted: int, within: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while await stack.conn.fetchval(sql) != wanted:
        assert asyncio.get_running_loop().time() < deadline, sql
        await asyncio.sleep(0.3)


async def test_dispatch_resend_member_update_and_status(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, MEMBERS)
    month = parse_month(MONTH)
    # settled without Temporal: as after an outage, no bill has a notification workflow yet
    await settle_chunk(stack.conn, month, "s", 1, MEMBERS, await load_products(stack.conn, month))
    async with running(stack):
        first = await cli(stack, "dispatch", "--month", MONTH)
        assert first.returncode == 0, first.stderr
        assert f"{MEMBERS} notification workflow(s) started" in first.stdout
        await until(
            stack,
            "SELECT count(*) FROM notification WHERE status = 'DELIVERED_EMAIL'",
            MEMBERS,
        )
        bill = await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = 3")
        resent = await cli(stack, "resend", "--bill", str(bill), "--channel", "sms")
        assert resent.returncode == 0, resent.stderr
        assert "RESEND-1" in resent.stdout
        await until(
            stack,
            f"SELECT count(*) FROM notification WHERE bill_id = {bill} "
            "AND purpose = 'RESEND-1' AND status = 'DELIVERED_SMS'",
            1,
        )
        again = await cli(stack, "dispatch", "--month", MONTH)
        assert "0 notification workflow(s) started" in again.stdout  # nothing left to start
        refused = await cli(stack, "member", "update", "--member", "3", "--preferred-day", "40")
        assert refused.returncode == 1 and "1–31" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        for _ in range(20):  # Temporal's visibility follows the workflows with a small lag
            status = await cli(stack, "status", "--month", MONTH, "--json")
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            if report["temporal"]["DELIVERED_EMAIL"] == MEMBERS:
                break
            await asyncio.sleep(0.5)
        assert report["postgresql"]["delivered_email"] == MEMBERS
        assert report["temporal"]["DELIVERED_EMAIL"] == MEMBERS
        assert report["temporal"]["DELIVERED_SMS"] == 1  # the resend
    await stack.conn.close()
