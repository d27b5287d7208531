"""`telebill consume email --scale auto` with real processes: a backlog makes the supervisor add
processes, an idle group makes it stop them again, and what a stopped process held is finished
and committed (every bill sent exactly once)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from telebill.config import Settings
from tests.helpers import free_low_ports
from tests.integration.conftest import Databases
from tests.integration.consumer_processes import TELEBILL, Output, members_in_group
from tests.integration.delivery_platform import Platform, event, platform_of
from tests.integration.metrics_scrape import reaches, scrape, value
from tests.integration.test_consumer_processes import sent_per_bill

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BILLS = 400


@pytest.fixture
async def busy(databases: Databases, settings: Settings) -> AsyncIterator[Platform]:
    async with platform_of(databases, settings, BILLS) as made:
        yield made


def supervisor(platform: Platform, metrics_port: int | None = None) -> subprocess.Popen[str]:
    """A supervisor of 1–3 e-mail consumers that act within seconds; each consumer sends at
    most 3 e-mails at a time at 0.3 s each (about 10/s), so 400 bills are a backlog."""
    env = (
        os.environ
        | platform.settings.process_env()
        | {
            "TELEBILL_EMAIL_LATENCY_S": "0.3",
            "TELEBILL_EMAIL_FAILURE_RATE": "0",
            "TELEBILL_FAIL_ADDRESSES": "",
            "TELEBILL_CONSUMER_BATCH": "3",
            "TELEBILL_CONSUMER_PIPELINE": "1",
            "TELEBILL_SCALE_INTERVAL_S": "1",
            "TELEBILL_SCALE_DRAIN_S": "5",
            "TELEBILL_SCALE_IDLE_S": "4",
            "TELEBILL_SCALE_COOL_DOWN_S": "4",
        }
        | ({"TELEBILL_METRICS_PORT": str(metrics_port)} if metrics_port else {})
    )
    return subprocess.Popen(
        [TELEBILL, "consume", "email", "--scale", "auto", "--min", "1", "--max", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.5)


def said(out: Output, pattern: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return re.search(pattern, "".join(out.lines)) is not None

    return check


def stop(process: subprocess.Popen[str], out: Output) -> str:
    process.send_signal(signal.SIGTERM)
    code = process.wait(120)
    out.thread.join(10)
    log = "".join(out.lines)
    assert code == 0, log
    assert "every process stopped" in log
    started = len(re.findall(r"started process \d+", log))
    stopped = re.findall(r"process \d+ stopped \(code (-?\d+)\)", log)
    assert len(stopped) == started, log  # each stopped by the supervisor…
    # …cleanly, after finishing and committing what it held (0); or, started just as the stop
    # came, killed by the SIGTERM before it set its handler (-15): it had not begun consuming,
    # since `telebill consume` sets the handler before it joins the group
    assert set(stopped) <= {"0", "-15"} and stopped.count("-15") <= 1, log
    assert "0" in stopped, log
    return log


async def test_a_backlog_scales_up_an_idle_group_scales_down_and_nothing_is_lost(
    busy: Platform,
) -> None:
    bills = await busy.conn.fetch("SELECT id, member_id FROM bill ORDER BY id")
    first = supervisor(busy)
    out = Output(first)
    try:
        await until(said(out, "started process"), "no first process")
        await members_in_group(busy, "email", 1)  # in its group before the backlog arrives
        # keyed by member, as the workflows publish: spread over the partitions
        await busy.publish_to(
            busy.topics.channel("email"), *(event(b["id"], b["member_id"]) for b in bills)
        )
        await until(said(out, "1 → 2 processes"), "never scaled up")
        # The new process is up (its SIGTERM handler is set before it says so), and working.
        await until(said(out, r"(?s)(consumer on .*){2}"), "the second process never started")

        async def shared() -> bool:  # the rebalance gave the new process its part of the group
            counts = [int(n) for n in re.findall(r"assigned (\d+) partitions", "".join(out.lines))]
            # the first process had them all; then each got a part
            return len(counts) > 1 and any(0 < n < counts[0] for n in counts[1:])

        await until(shared, "the group was never split between the processes")
        # Stopped in the middle of the backlog: its processes finish what they hold and commit.
        await asyncio.to_thread(stop, first, out)
    finally:
        first.kill()
    halfway = await sent_per_bill(busy.conn)
    assert 0 < len(halfway) < len(bills) and set(halfway.values()) == {1}

    port = free_low_ports(4)
    second = supervisor(busy, port)  # takes the rest from the committed offsets
    out = Output(second)
    try:

        async def all_sent() -> bool:
            return len(await sent_per_bill(busy.conn)) == len(bills)

        await until(said(out, "1 → 2 processes"), "never scaled up for the rest")

        # Metrics: the supervisor on the port, its processes on the port + 1 and + 2.
        async def scaled() -> bool:
            samples = await asyncio.to_thread(scrape, port)
            return value(samples, "telebill_scaled_processes", channel="email") >= 2

        await until(scaled, "the supervisor's gauge never showed its processes", within=10)
        for child in (port + 1, port + 2):
            await reaches(child, "telebill_consumer_running", 1, channel="email")
        await until(all_sent, "not every bill was sent")
        await until(said(out, r"[23] → [12] processes: no lag"), "never scaled down")
        log = await asyncio.to_thread(stop, second, out)
    finally:
        second.kill()
    assert len(re.findall(r"started process \d+", log)) >= 2
    assert await sent_per_bill(busy.conn) == {b["id"]: 1 for b in bills}
