"""A month run by real processes for a drill: its own database, topics, task queue and workflow
ids beside the main installation; a `telebill worker` and the three `telebill consume`
processes; the settlement started with `telebill settle`; the clock set so every bill is due."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from telebill.clock import offset_to
from telebill.config import Settings, asyncpg_dsn
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from telebill.stack.kafka_topics import ensure_topics
from telebill.templates.store import install_defaults
from tests.helpers import all_by_email
from tests.integration.conftest import Databases

MONTH = "2026-11"
WAKE = datetime(2026, 12, 31, 14, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # every day has passed
SLEEPERS_QUIET = ("12:00", "14:00")  # Seoul; a drill with sleepers starts inside it
TELEBILL = str(Path(sys.executable).parent / "telebill")
LOGS = Path(__file__).resolve().parents[2] / "test-output" / "drills"


@dataclass
class Installation:
    settings: Settings
    conn: asyncpg.Connection
    name: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    wake_at: datetime | None = None  # when the sleepers' quiet hours end
    email_consumers: int = 1
    election_s: float | None = None  # set by a broker kill: until every partition had a leader
    month: str = MONTH

    async def reconnect(self) -> None:
        """A new connection (after PostgreSQL was stopped, the old one is gone)."""
        if not self.conn.is_closed():
            self.conn.terminate()
        self.conn = await asyncpg.connect(asyncpg_dsn(self.settings.db_url))

    def env(self) -> dict[str, str]:
        s = self.settings
        return (
            os.environ
            | s.process_env()
            | {
                "TELEBILL_EMAIL_LATENCY_S": str(s.email_latency_s),
                "TELEBILL_SMS_LATENCY_S": str(s.sms_latency_s),
                "TELEBILL_EMAIL_FAILURE_RATE": str(s.email_failure_rate),
                "TELEBILL_SMS_FAILURE_RATE": str(s.sms_failure_rate),
                "TELEBILL_RETRY_BASE_DELAY_S": str(s.retry_base_delay_s),
                "TELEBILL_RETRY_FACTOR": str(s.retry_factor),
                "TELEBILL_NOTIFY_STUCK_AFTER_S": str(s.notify_stuck_after_s),
                "TELEBILL_BLACKOUT_REFRESH_S": "1",
                "TELEBILL_FAIL_ADDRESSES": s.fail_addresses,
            }
        )

    def start(self, role: str, *argv: str) -> subprocess.Popen[bytes]:
        """`telebill <argv>` as the process playing `role` (worker, email, sms, dlq, settle)."""
        LOGS.mkdir(parents=True, exist_ok=True)
        with (LOGS / f"{self.name}-{role}.log").open("ab") as log:
            process = subprocess.Popen(
                [TELEBILL, *argv], env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        self.processes[role] = process
        return process

    def roles(self) -> list[str]:
        """The long-running processes: a worker and the consumers (e-mail's may be several:
        email, email-2, …)."""
        emails = [f"email-{n}" if n > 1 else "email" for n in range(1, self.email_consumers + 1)]
        return ["worker", *emails, "sms", "dlq"]

    def start_all(self) -> None:
        for role in self.roles():
            self.restart(role)

    def kill(self, role: str, sig: signal.Signals = signal.SIGKILL) -> None:
        self.processes[role].send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.processes[role].wait(60)

    def restart(self, role: str) -> None:
        argv = {"worker": ("worker",), "settle": ("settle", "--month", MONTH, "--wait")}
        self.start(role, *argv.get(role, ("consume", role.split("-")[0])))

    async def move_clock(self, seconds: float) -> None:
        """The installation's clock jumps: every process stopped (gracefully) and started with
        the new TELEBILL_CLOCK_OFFSET_S, then `telebill notify replan` tells the sleeping
        workflows (the Temporal server's timers do not see the offset)."""
        self.settings = self.settings.model_copy(
            update={"clock_offset_s": self.settings.clock_offset_s + seconds}
        )
        for role in self.roles():
            await asyncio.to_thread(self.kill, role, signal.SIGTERM)
            self.restart(role)
        replan = self.start("replan", "notify", "replan", "--month", MONTH)
        if await asyncio.to_thread(replan.wait, 120) != 0:
            raise RuntimeError("telebill notify replan failed (see its log)")

    def exited(self) -> list[str]:
        """Roles whose process ended (the settle command is meant to)."""
        return [r for r, p in self.processes.items() if r in self.roles() and p.poll() is not None]

    async def stop(self) -> None:
        for p in self.processes.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes.values():
            try:
                await asyncio.to_thread(p.wait, 60)
            except subprocess.TimeoutExpired:
                p.kill()
        await self.conn.close()


async def prepare(
    base: Settings, databases: Databases, members: int, sleep_s: float | None = None
) -> Installation:
    """Seeded members with usage of MONTH (not settled: the drill settles them), templates,
    topics; quiet hours abroad cleared so no send waits past the drill (Seoul's leave 14:00).
    With `sleep_s`, a quarter of the members are sleepers: quiet hours until WAKE, and the
    clock set `sleep_s` before it, so their workflows sleep that long."""
    url = await databases.create()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    await seed_population(conn, members, parse_month(MONTH), None, workers=1)
    await all_by_email(conn)
    await install_defaults(conn)
    await conn.execute(
        "UPDATE member SET quiet_start = NULL, quiet_end = NULL WHERE timezone <> 'Asia/Seoul'"
    )
    # member 1 fails on every channel (a dead letter), member 2 by e-mail (delivered by SMS)
    m1 = await conn.fetchrow("SELECT email, phone FROM member WHERE id = 1")
    m2 = await conn.fetchrow("SELECT email FROM member WHERE id = 2")
    assert m1 is not None and m2 is not None
    if sleep_s is not None:
        await conn.execute(
            "UPDATE member SET timezone = 'Asia/Seoul', quiet_start = $1, quiet_end = $2 "
            "WHERE id % 4 = 0",
            *(time.fromisoformat(t) for t in SLEEPERS_QUIET),
        )
    pretend = WAKE - timedelta(seconds=sleep_s or 0)
    name = f"drill{uuid.uuid4().hex[:8]}"  # its topics: drill<tag>. (the tests leave them)
    settings = base.beside(
        name,
        url,
        clock_offset_s=offset_to(pretend),
        email_latency_s=0.5,
        sms_latency_s=0.1,
        email_failure_rate=0.03,
        sms_failure_rate=0.03,
        retry_base_delay_s=1.0,
        retry_factor=2.0,
        notify_stuck_after_s=60.0,
        fail_addresses=f"{m1['email']},{m1['phone']},{m2['email']}",
    )
    await ensure_topics(settings.kafka_servers, 3, settings.topic_prefix)
    return Installation(settings, conn, name, wake_at=WAKE if sleep_s is not None else None)
