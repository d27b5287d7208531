"""A month on the staging layout (`telebill staging up`), end to end through its front door, with
a worker, a Kafka broker and the Temporal server each killed once on the way.

    python -m bench.staging --members 100000          (`make staging` runs it after `up`)

The installation's servers are the ones it was brought up on: `telebill staging up
--infrastructure dev` (`make staging STAGING_INFRASTRUCTURE=dev`) runs the same roles, Nginx and
month on the dev Temporal server and one broker, whose figures are then the dev layout's.

1. seed N members and the default templates (not timed); the installation's clock set to the
   send month's first day, 10:00 Seoul (every role started again with that offset);
2. the settlement, asked of the API through Nginx with TLS (`POST /api/months/M/settlement`);
   the settlement worker is SIGKILLed once a quarter of the bills are written and started again
   5 s later (as a restart policy would): the settlement resumes from its last chunk;
3. the schedule (the settlement's own dispatch) plans every bill; the first day's bills are due
   at once: the send day, without a fault;
4. the rest sent now (`POST /api/months/M/send-now`); a Kafka broker is SIGKILLed a third of the
   way and started 20 s later, the Temporal server two thirds of the way and started 10 s later;
5. the promises checked (one bill per member, one outcome each in PostgreSQL and in Temporal,
   each message accepted once by the provider, none inside a window, no lag), the alerts that
   Prometheus raised and cleared on the way, and the figures (bench/staging_figures.py: from
   Temporal's and PostgreSQL's own times, each phase's faults and recovery included).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from temporalio.client import Client

from bench.common import run_bench
from bench.figures import Figure, record
from bench.staging_figures import Phase, phases
from bench.staging_watch import Timeline, watch_alerts
from telebill import clock
from telebill.config import Settings, asyncpg_dsn
from telebill.db.month_views import MonthStatus, month_status
from telebill.domain.month import parse_month
from telebill.stack.kafka import Kafka
from telebill.stack.manager import temporal_service
from telebill.stack.process import Owned, StackError, signal_owned
from telebill.staging import layout
from telebill.staging.installation import Staging
from telebill.temporal_client import connect_client
from tests.drills.checks import AuditedMonth, Check, check_all

SEOUL = ZoneInfo("Asia/Seoul")
WORKER_DOWN_S, BROKER_DOWN_S, TEMPORAL_DOWN_S = 5.0, 20.0, 10.0
POLL_S = 1.0


def staging_settings(staging: Staging) -> Settings:
    """This process as a client of the staging installation (its settings, nobody else's)."""
    env = staging.env()
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)
    return Settings()


class Front:
    """The admin API behind Nginx, as an operator's script reaches it."""

    def __init__(self, token: str) -> None:
        # the trial's self-signed certificate: TLS is checked by the proxy tests, not here
        self.client = httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{layout.HTTPS_PORT}",
            headers={"Host": layout.API_HOST, "Authorization": f"Bearer {token}"},
            verify=False,
            timeout=60,
        )

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await self.client.post(path, json=body)
        if answer.status_code >= 300:
            raise SystemExit(f"POST {path}: {answer.status_code} {answer.text[:300]}")
        return dict(answer.json())


async def until(
    probe: Callable[[], Awaitable[bool]], what: str, within: float, timeline: Timeline
) -> float:
    """Poll `probe` every second; the run seconds when it held."""
    deadline = time.perf_counter() + within
    while not await probe():
        if time.perf_counter() > deadline:
            raise SystemExit(f"{what}: not within {within:,.0f} s")
        await asyncio.sleep(POLL_S)
    return timeline.now()


async def main(members: int, month_text: str, keep: bool) -> None:
    base = Settings()
    root = layout.folder(base.stack_dir)
    staging = Staging(root, base.stack_dir)
    timeline = Timeline()
    timeline.say(f"bringing the staging installation up ({root})")
    await staging.up()
    s = staging_settings(staging)
    month = parse_month(month_text)
    send_month = (month + timedelta(days=32)).replace(day=1)
    conn = await asyncpg.connect(asyncpg_dsn(s.db_url))
    if await conn.fetchval("SELECT count(*) FROM bill WHERE billing_month = $1", month):
        raise SystemExit(f"{month_text} is settled already here: `make staging-down` first")
    timeline.say(f"seeding {members:,} members (not timed)")
    await asyncio.to_thread(
        staging.telebill, "seed", "--members", str(members), "--month", month_text, what="seed"
    )
    await asyncio.to_thread(
        staging.telebill, "templates", "install-defaults", what="templates install-defaults"
    )
    day_one = datetime(send_month.year, send_month.month, 1, 10, tzinfo=SEOUL)
    await staging.set_clock(clock.offset_to(day_one))
    s = staging_settings(staging)
    timeline.say(f"the installation's clock set to {day_one.isoformat()}; every role restarted")
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_alerts(timeline, stop))
    front = Front(staging.api_token())
    client = await connect_client(s)
    try:
        m = Month(conn, s, month, timeline)
        run = await run_month(staging, m, front, month_text, members)
        checks = await agreed_checks(AuditedMonth(conn, s, month_text), client, timeline)
        figures = await phases(conn, client, month, run.settlement_id, run.send_now_id)
        timeline.say("waiting for the alerts to clear (at most 5 minutes)")
        if not await timeline.cleared(300):
            timeline.say("alerts still open after 5 minutes")
    finally:
        stop.set()
        await watcher
        await front.client.aclose()
        await conn.close()
    report(run, figures, checks, timeline, staging.infrastructure())


async def agreed_checks(month: AuditedMonth, client: Client, t: Timeline) -> list[Check]:
    """The promises, checked again every 5 s for up to 5 minutes until they hold: a workflow
    that was waiting when the Temporal server was killed shows its outcome in Temporal's
    visibility a little after PostgreSQL has it. What still fails after that is broken."""
    began = t.now()
    for _ in range(60):
        checks = await check_all(month, client)
        if all(c.ok for c in checks):
            break
        await asyncio.sleep(5)
    t.say(f"the promises checked ({t.now() - began:,.0f} s until they held or the 5 minutes)")
    return checks


SHARE = 0.98  # the driver moves on when this share of a phase's bills is decided (the last
# ones wait out their retry tiers' delays: the final wait below covers them)


@dataclass
class Month:
    conn: asyncpg.Connection
    settings: Settings
    month: date
    timeline: Timeline

    async def status(self) -> MonthStatus:
        return await month_status(self.conn, self.month, clock.now(self.settings))

    async def bills(self) -> int:
        return (await self.status()).bills

    async def decided(self, n: float, what: str, within: float) -> float:
        """Run seconds when at least `n` bills were decided (delivered or dead-lettered)."""

        async def enough() -> bool:
            return (await self.status()).settled >= n

        return await until(enough, what, within, self.timeline)


@dataclass(frozen=True)
class Run:
    settlement_id: str
    send_now_id: str
    all_s: float  # from the settlement's request until every bill was decided (nan: not seen)
    later: int  # bills waiting for their member's window at the end


async def run_month(staging: Staging, m: Month, front: Front, month_text: str, members: int) -> Run:
    t = m.timeline
    # 2. the settlement, its worker killed a quarter of the way
    began = t.now()
    settlement = await front.post(f"/api/months/{month_text}/settlement", {"notify": True})
    t.say("settlement asked of the API through Nginx")

    async def settled(share: float) -> bool:
        return await _settled(m.conn, m.month, members * share)

    await until(lambda: settled(0.25), "a quarter settled", 1800, t)
    if not await settled(1.0):
        pid = staging.kill("worker-settlement")
        t.say(f"worker-settlement (pid {pid}) SIGKILLed at {await m.bills():,} bills")
        await asyncio.sleep(WORKER_DOWN_S)
        await staging.start_role(staging.role("worker-settlement"))  # as a restart policy would
        t.say("worker-settlement started again")
    await until(lambda: settled(1.0), "the settlement", 3600, t)
    t.say(f"settled: {await m.bills():,} bills")

    # 3. the schedule and the send day: the first day's bills are due at once
    async def scheduled() -> bool:
        st = await m.status()
        return st.bills > 0 and st.not_scheduled == 0

    await until(scheduled, "the schedule", 3600, t)
    st = await m.status()
    day_bills = st.due + st.settled
    t.say(f"scheduled: {st.bills:,} bills, {day_bills:,} of them due today")
    await m.decided(day_bills * SHARE, "the send day", 7200)

    # 4. the rest sent now: a Kafka broker killed a third of the way, the Temporal server at
    # two thirds (the send day runs without a fault: its rate is the layout's own)
    done = (await m.status()).settled
    rest = st.bills - done
    send_now = await front.post(f"/api/months/{month_text}/send-now", {})
    t.say(f"send now asked of the API for the {rest:,} bills not decided yet")
    await m.decided(done + rest / 3, "a third of send now", 7200)
    await kill_broker(m.settings, t)
    await m.decided(done + rest * 2 / 3, "two thirds of send now", 7200)
    await kill_temporal(m.settings, t)
    await m.decided(done + rest * SHARE, "send now", 14400)
    t.say(f"{SHARE:.0%} decided; waiting for the rest (their retry tiers), at most 45 minutes")

    async def all_decided() -> bool:
        st = await m.status()
        return st.caught_up and st.workflow_later == 0

    try:
        all_at = await until(all_decided, "every bill decided", 2700, t)
    except SystemExit as exc:
        t.say(str(exc))
        all_at = float("nan")
    end = await m.status()
    return Run(
        settlement["workflow_id"],
        send_now["workflow_id"],
        all_at - began,
        end.bills - end.settled,
    )


async def kill_broker(s: Settings, t: Timeline) -> None:
    kafka = Kafka(s)
    victim = kafka.nodes[min(1, len(kafka.nodes) - 1)]  # the dev layout's one broker: an outage
    await kill_then_start(t, victim, f"Kafka node {victim.id}", BROKER_DOWN_S, kafka.up)


async def kill_temporal(s: Settings, t: Timeline) -> None:
    temporal = temporal_service(s)
    await kill_then_start(t, temporal, "the Temporal server", TEMPORAL_DOWN_S, temporal.up)


async def kill_then_start(
    t: Timeline, target: Owned, what: str, down_s: float, up: Callable[[], Awaitable[object]]
) -> None:
    try:
        pid = signal_owned(target, what)
    except StackError as exc:
        raise SystemExit(str(exc)) from None
    t.say(f"{what} (pid {pid}) SIGKILLed")
    await asyncio.sleep(down_s)
    await up()
    t.say(f"{what} started again")


async def _settled(conn: asyncpg.Connection, month: date, n: float) -> bool:
    r = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM bill WHERE billing_month = $1) AS bills, "
        "(SELECT count(*) FROM settlement_error WHERE billing_month = $1) AS refused",
        month,
    )
    assert r is not None
    return bool(r["bills"] + r["refused"] >= n)


def report(
    run: Run,
    figures: list[Phase],
    checks: list[Check],
    timeline: Timeline,
    infrastructure: layout.Infrastructure,
) -> None:
    print(
        f"\nthe staging month on {layout.describe(infrastructure)} "
        "(from Temporal's and PostgreSQL's own times)"
    )
    bench = "staging" if infrastructure is layout.Infrastructure.PRODUCTION else "staging-dev"
    for p in figures:
        print(f"  {p.name:<11} {p.what:<44} {p.seconds:8,.1f} s {p.rate:10,.1f}/s")
        record(Figure(bench, f"{p.name}: {p.what}", p.rate, "/s"))
    print(
        f"  every bill decided {run.all_s:,.0f} s after the settlement was asked for; "
        f"{run.later:,} wait for their member's window"
    )
    print("\nthe promises")
    for c in checks:
        print(f"  {'ok    ' if c.ok else 'BROKEN'} {c.name}: {c.detail}")
    print("\nalerts (run seconds)")
    for seen in timeline.alerts.values():
        print(f"  {seen.line()}")
    if not timeline.alerts:
        print("  none")
    if timeline.unanswered:
        print(f"  Prometheus did not answer {timeline.unanswered} polls")
    if not all(c.ok for c in checks):
        raise SystemExit("a promise was broken (above)")


if __name__ == "__main__":
    run_bench(main, __doc__)
