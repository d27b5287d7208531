"""Prometheus metrics of real processes: a consumer's counters move as its batch is delivered,
the worker counts the members it settles and serves the Temporal SDK's own metrics."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from telebill.clock import offset_to
from telebill.config import Settings
from tests.helpers import free_low_ports, run_cli
from tests.integration.conftest import Databases
from tests.integration.consumer_processes import Output, members_in_group, spawn
from tests.integration.delivery_platform import MEMBERS, Platform
from tests.integration.metrics_scrape import Samples, reaches, scrape, scraped, value
from tests.integration.test_consumer_processes import publish_all, stop
from tests.integration.test_settlement import NOV, seeded_env
from tests.unit.test_deploy_monitoring import DASHBOARD

pytestmark = pytest.mark.integration
TELEBILL = str(Path(sys.executable).parent / "telebill")


async def test_a_consumers_counters_move_as_its_batch_is_delivered(platform: Platform) -> None:
    port = free_low_ports(1)
    process = spawn(platform, "email", TELEBILL_METRICS_PORT=str(port))
    output = Output(process)
    try:
        before = await reaches(port, "telebill_consumer_running", 1, channel="email")
        assert value(before, "telebill_sent_total", channel="email") == 0
        await members_in_group(platform, "email", 1)
        await publish_all(platform)

        async def delivered() -> Samples:
            while True:
                now = await asyncio.to_thread(scrape, port)
                if value(now, "telebill_sent_total", channel="email") >= MEMBERS:
                    return now
                await asyncio.sleep(0.3)

        after = await asyncio.wait_for(delivered(), 60)
    finally:
        code, out = stop(process, signal.SIGTERM)
        output.thread.join(10)
    assert code == 0, out
    assert value(after, "telebill_sent_total", channel="email") == MEMBERS
    assert value(after, "telebill_consumer_events_total", channel="email") == MEMBERS
    assert value(after, "telebill_send_seconds_count", channel="email") == MEMBERS
    assert value(after, "telebill_send_seconds_sum", channel="email") >= MEMBERS * 0.05
    assert value(after, "telebill_batch_events_sum", channel="email") == MEMBERS
    assert 1 <= value(after, "telebill_batch_seconds_count", channel="email") <= MEMBERS
    assert value(after, "telebill_send_failures_total", channel="email") == 0
    lags = [k for k in after if k[0] == "telebill_consumer_lag"]
    assert lags, "no lag gauge"


def start_worker(
    s: Settings, metrics_port: int | None = None, **extra_env: str
) -> subprocess.Popen[str]:
    metrics = {"TELEBILL_METRICS_PORT": str(metrics_port)} if metrics_port else {}
    return subprocess.Popen(
        [TELEBILL, "worker"],
        env=os.environ | s.process_env() | metrics | extra_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_the_worker_counts_what_it_settles_and_serves_the_sdk_metrics(
    databases: Databases, settings: Settings
) -> None:
    env = await seeded_env(databases, settings, 200)
    # the clock before the month's first send: the settlement is what this test counts (the
    # bills due at once, and a worker stopped while publishing them, are in test_shutdown)
    before_sends = datetime(2026, 11, 30, 12, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    s = settings.beside(env.task_queue, env.db_url, clock_offset_s=offset_to(before_sends))
    port = free_low_ports(2)
    worker = start_worker(s, port)
    output = Output(worker)
    try:
        assert value(await scraped(port), "telebill_settled_members_total") == 0
        done = await asyncio.to_thread(
            run_cli, "settle", "--month", NOV, "--wait", env=s.process_env(), timeout=240
        )
        assert done.returncode == 0, done.stdout + done.stderr
        mine = await asyncio.to_thread(scrape, port)
        sdk = await asyncio.to_thread(scrape, port + 1)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
        output.thread.join(10)
        await env.conn.close()
    assert code == 0, "".join(output.lines)[-3000:]
    assert value(mine, "telebill_settled_members_total") == 200
    assert value(mine, "telebill_settled_bills_total") == 200
    assert ("telebill_notifications_stuck", frozenset()) in mine
    # The SDK's own, among them every one the Grafana dashboard draws.
    drawn = set(re.findall(r"\btemporal_[a-z_]+", DASHBOARD.read_text()))
    assert drawn and drawn <= {name for name, _ in sdk}, sorted({n for n, _ in sdk})
