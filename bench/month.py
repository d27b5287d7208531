"""The whole month on one box: settle, schedule every bill's workflow, one send day, an admin
"send now", each phase beside a baseline measured on the same server in the same run.

    python -m bench.month --members 100000        (1000000: the real size; hours)

1. seed N members (not timed) and settle the month through MonthlySettlementWorkflow;
2. schedule: the month's dispatch plans every bill (one query per page, the pure send-window
   rules) and records its instant in PostgreSQL; with the installation's clock three days
   before the send month no bill is within the start horizon (TELEBILL_NOTIFY_START_HORIZON_H),
   so no workflow starts yet. Beside it: bare delayed starts of a no-op workflow with the same
   four search attributes (N/20, 2,000–20,000), what starting every bill's workflow would cost;
3. one send day: the daily dispatch, run with the clock set so that the day's instant (its
   start, Seoul) comes `lead` s later and a horizon reaching just past it, starts that day's
   bills delayed until then (the Temporal server's disk per sleeping workflow measured here);
   they all wake at once, plan, publish, are delivered by the consumers (1 s simulated e-mail
   latency, 1% failures), and complete. Baseline: as many one-activity workflows
   started delayed until the same kind of instant (no task before it, as the bills);
4. send now: the admin's "send now" for min(100,000, N/10) bills planned for later days
   (Signal-With-Start starts each workflow at once);
then the memory of every process (now and peak).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client
from temporalio.worker import Worker

from bench.common import (
    CONSUMERS,
    deliverable_month,
    drop_database,
    drop_topics,
    run_bench,
    start_consumers,
)
from bench.figures import Figure, Goal, record
from bench.minimal_workflow import noop
from bench.month_probes import (
    cpu_seconds,
    delayed_starts,
    delayed_then_work,
    fresh_dev_server,
    rss_mib,
    stack_memory,
    stack_pids,
    temporal_disk,
    wait_closed,
)
from bench.month_workflows import DelayedNoop, DelayedThenWork, DelayedThenWorkUnsandboxed
from bench.task_waits import task_waits
from telebill import clock
from telebill.clock import offset_to
from telebill.config import Settings, asyncpg_dsn, get_settings
from telebill.domain.month import parse_month
from telebill.stack.kafka_topics import ensure_topics
from workers.temporal_worker import build_worker, worker_options
from workflows.dispatch import DispatchInput, DispatchResult, DispatchWorkflow
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

BENCH_DB = "telebill_bench_month"
SEOUL = ZoneInfo("Asia/Seoul")
FRESH_PORT = 27433  # the bench's own dev server, below the ephemeral range
# The preferred day of phase 3: the send month's first, so that no earlier day's bills are
# overdue by the clock phase 3 sets (the daily dispatch would start those too).
SEND_DAY = 1
STATE = "state.json"  # a split run's, between its two parts


def where_time_went(label: str, before: dict[str, float], after: dict[str, float]) -> None:
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    parts = ", ".join(f"{name} {seconds:.1f}" for name, seconds in used.items())
    print(f"   CPU seconds ({label}): {parts}", flush=True)


def line(label: str, n: int, seconds: float, baseline: float | None = None) -> float:
    rate = n / max(seconds, 1e-9)
    text = f"{label:44} {n:>9,} in {seconds:8.1f} s = {rate:8.1f}/s"
    if baseline:
        text += f"   baseline {baseline:8.1f}/s, ratio {rate / baseline:5.0%}"
    print(text, flush=True)
    return rate


async def planned_later(conn: asyncpg.Connection, month: date) -> int:
    """The month's bills planned in PostgreSQL whose workflow is not started yet."""
    n: int = await conn.fetchval(
        "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
        "WHERE b.billing_month = $1 AND n.workflow_id IS NULL AND n.send_at IS NOT NULL",
        month,
    )
    return n


def write_state(
    kept: Path, members: int, month: str, tag: str, url: str, schedule_done: bool
) -> None:
    """What `--resume` needs to go on with this run; `schedule_done` False: the schedule was
    still running, and the resumed run waits for its dispatch first."""
    stopped = datetime.now(SEOUL).isoformat(timespec="minutes")
    state = {"members": members, "month": month, "tag": tag, "url": url, "stopped": stopped}
    (kept / STATE).write_text(json.dumps(state | {"schedule_done": schedule_done}))


async def dispatch(client: Client, s: Settings, month: str, name: str, **extra: object) -> int:
    result = await client.execute_workflow(
        DispatchWorkflow.run,
        DispatchInput(month=month, **extra),  # type: ignore[arg-type]
        id=f"{s.workflow_id_prefix}dispatch-{month}-{name}",
        task_queue=s.dispatch_task_queue,
    )
    return result.started


async def prepare(
    base: Settings, members: int, month_text: str, send_day_share: float | None
) -> tuple[str, asyncpg.Connection]:
    """The bench database: N members seeded (not settled), all in Seoul, no blackout windows,
    `send_day_share` of them (or the seed's share) preferring day SEND_DAY."""
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text, settle=False)
    await conn.execute("UPDATE member SET timezone = 'Asia/Seoul'")
    await conn.execute("DELETE FROM blackout_window")
    if send_day_share:  # a bigger send day than the seed's (about 1/28 of the members)
        await conn.execute(
            "UPDATE member SET preferred_day = $1 WHERE id % $2 = 0",
            SEND_DAY,
            max(round(1 / send_day_share), 1),
        )
    return url, conn


async def main(
    members: int,
    month_text: str,
    keep: bool,
    send_day_share: float | None,
    stack_server: bool,
    until: str | None,
    resume: bool,
    baseline_unsandboxed: bool,
) -> None:
    base = get_settings()
    kept = base.stack_dir / "bench-month" if until == "schedule" or resume else None
    if kept is not None and resume:
        if not (kept / STATE).exists():
            raise SystemExit(f"--resume: no run to resume ({kept / STATE} is missing)")
        state = json.loads((kept / STATE).read_text())
        members, month_text, tag, url = (state[k] for k in ("members", "month", "tag", "url"))
        conn = await asyncpg.connect(asyncpg_dsn(url))
        print(f"resuming the run of {state['stopped']}: the send day and send now")
    else:
        if kept is not None:
            shutil.rmtree(kept, ignore_errors=True)  # a new run: nothing of an earlier one
        tag = uuid.uuid4().hex[:6]
        url, conn = await prepare(base, members, month_text, send_day_share)
    month = parse_month(month_text)
    send_month = (month + timedelta(days=32)).replace(day=1)
    day_members = await conn.fetchval(
        "SELECT count(*) FROM member WHERE preferred_day = $1", SEND_DAY
    )
    # The installation's clock three days before the send month: every bill's instant lies at
    # least that far ahead, so none wakes between the two parts of a split run.
    before = datetime(send_month.year, send_month.month, 1, tzinfo=SEOUL) - timedelta(days=3)
    async with AsyncExitStack() as scope:
        if stack_server:  # the stack's own, with whatever it has kept from earlier runs
            port = base.temporal_port
            client = await Client.connect(base.temporal_target)
            temporal_pid = stack_pids(base)["temporal"]
            # the production server keeps its data in PostgreSQL, not in a folder
            production = base.temporal_server == "production"
            folder: Path | None = None if production else base.stack_dir / "temporal"
        else:
            port = FRESH_PORT
            client, temporal_pid, folder = await scope.enter_async_context(
                fresh_dev_server(FRESH_PORT, kept=kept / "temporal" if kept else None)
            )
        s = base.beside(f"bench{tag}", url, clock_offset_s=offset_to(before), temporal_port=port)
        await ensure_topics(s.kafka_servers, s.kafka_partitions, s.topic_prefix)
        pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=s.db_pool_size)
        assert pool is not None
        consumers = await start_consumers(s)
        roots = stack_pids(s) | {"temporal": temporal_pid, "worker": os.getpid()}
        roots |= {f"consume {k}": p.pid for k, p in zip(CONSUMERS, consumers, strict=True)}
        # a queue of this sitting's own: an earlier, stopped one may have left baseline
        # workflows waiting for their activity, which no worker here then runs
        baseline_queue = f"bench-month-{tag}-{uuid.uuid4().hex[:4]}"
        mine = f"WorkflowId STARTS_WITH '{s.workflow_id_prefix}notify-'"
        print(f"{members:,} members, month {month_text}; {day_members:,} on day {SEND_DAY}")
        try:
            async with Worker(
                client,
                task_queue=baseline_queue,
                workflows=[DelayedThenWork, DelayedThenWorkUnsandboxed, DelayedNoop],
                activities=[noop],
                **worker_options(s),  # the installation's, as the notification workflows get
            ):
                if not resume:
                    async with build_worker(client, pool, s):
                        began = time.perf_counter()
                        summary = await client.execute_workflow(
                            MonthlySettlementWorkflow.run,
                            SettlementInput(month=month_text, notify=False),
                            id=f"{s.workflow_id_prefix}settlement-{month_text}",
                            task_queue=s.settlement_task_queue,
                        )
                        line("1. settled (members)", summary.members, time.perf_counter() - began)
                        bare = await delayed_starts(
                            client,
                            baseline_queue,
                            tag,
                            month_text,
                            min(max(members // 20, 2_000), 20_000),
                        )
                        if kept is not None and until == "schedule":  # stopped midway: resumable
                            write_state(kept, members, month_text, tag, url, schedule_done=False)
                        began, cpu = time.perf_counter(), cpu_seconds(roots)
                        started = await dispatch(client, s, month_text, "schedule")
                        planned = await planned_later(conn, month)
                        rate = line(
                            "2. scheduled (planned in PostgreSQL)",
                            planned,
                            time.perf_counter() - began,
                            bare,
                        )
                        print(f"   {started:,} workflows started (none is due within the horizon)")
                        record(
                            Figure(
                                "month",
                                f"schedule: {planned:,} bills planned, their workflows started "
                                "near their day",
                                rate,
                                "bills/s",
                                bare,
                                "bare delayed starts of a no-op workflow, same search attributes",
                                Goal(low=0.8, of="ratio"),
                                "the 1M month's goal is ≥ 140/s, ≤ 2 h",
                            )
                        )
                        where_time_went("scheduling", cpu, cpu_seconds(roots))
                    if kept is not None and until == "schedule":
                        write_state(kept, members, month_text, tag, url, schedule_done=True)
                        print(f"stopped after the schedule; `--resume` goes on ({kept})")
                if resume and not state.get("schedule_done", True):
                    # The first sitting was stopped during the schedule: its dispatch workflow
                    # carries on here (it starts only the bills without a workflow yet).
                    async with build_worker(client, pool, s):
                        began = time.perf_counter()
                        before_n = (await client.count_workflows(mine)).count
                        handle = client.get_workflow_handle(
                            f"{s.workflow_id_prefix}dispatch-{month_text}-schedule",
                            result_type=DispatchResult,
                        )
                        scheduled = (await handle.result()).started
                        now_n = (await client.count_workflows(mine)).count
                        line(
                            "2. schedule, the rest (started now)",
                            now_n - before_n,
                            time.perf_counter() - began,
                        )
                    per = await temporal_disk(folder, conn) / max(now_n, 1) / 1024
                    print(
                        f"   {scheduled:,} scheduled in all; "
                        f"Temporal's disk {per:.1f} KiB per workflow"
                    )
                if until != "schedule":
                    # 3. the send day: the baseline first, then the clock set so that the day's
                    # start comes `lead` s after the dispatch begins
                    # time to start every baseline workflow and every send-day one, both
                    # started delayed until the instant: 110–140 starts/s on a server holding a
                    # day's bills
                    lead = 30 + day_members / 80
                    day = datetime(send_month.year, send_month.month, SEND_DAY, tzinfo=SEOUL)
                    cpu = cpu_seconds(roots)
                    base_wake = datetime.now(UTC) + timedelta(seconds=lead)
                    base_day = await delayed_then_work(
                        client,
                        baseline_queue,
                        baseline_queue,
                        day_members,
                        lead,
                        kind=DelayedThenWorkUnsandboxed
                        if baseline_unsandboxed
                        else DelayedThenWork,
                    )
                    line("   baseline: delayed start + activity", day_members, base_day.all_s)
                    where_time_went("the baseline's send day", cpu, cpu_seconds(roots))
                    ids = [f"bench{baseline_queue}-timer-{i}" for i in range(day_members)]
                    print("   " + (await task_waits(client, ids, base_wake)).line())
                    # the daily dispatch's horizon reaching just past the day's start, so that
                    # this day's bills are started and not the next day's
                    s3 = s.model_copy(
                        update={
                            "clock_offset_s": offset_to(day - timedelta(seconds=lead)),
                            "notify_start_horizon_h": (lead + 3600) / 3600,
                        }
                    )
                    wake = time.perf_counter() + lead  # the day's start by that clock
                    disk = await temporal_disk(folder, conn)
                    async with build_worker(client, pool, s3):
                        mark, cpu = time.perf_counter(), cpu_seconds(roots)
                        held = await dispatch(client, s3, month_text, "send-day")
                        grown = await temporal_disk(folder, conn) - disk
                        print(
                            f"   {held:,} started in {time.perf_counter() - mark:.1f} s, "
                            f"waking in {wake - time.perf_counter():.0f} s"
                        )
                        if folder is None or folder.exists():
                            per = grown / max(held, 1) / 1024
                            print(
                                f"   Temporal's disk +{grown / 2**20:,.0f} MiB, "
                                f"{per:.1f} KiB per sleeping workflow"
                            )
                            record(
                                Figure("month", "Temporal's disk per sleeping workflow", per, "KiB")
                            )
                        done = await wait_closed(client, mine, held, wake)
                        base_rate = day_members / base_day.p99_s
                        rate = line("3. send day: completed (to 99%)", held, done.p99_s, base_rate)
                        record(
                            Figure(
                                "month",
                                f"send day: {held:,} bills waking at once, completed (to 99%)",
                                rate,
                                "bills/s",
                                base_rate,
                                "as many delayed one-activity workflows waking at once",
                            )
                        )
                        steady, base_steady = done.steady_rate, base_day.steady_rate
                        print(
                            f"   send day: steady (10th–90th percentile) {steady:8.1f}/s   "
                            f"baseline {base_steady:8.1f}/s, ratio {steady / base_steady:5.0%}"
                        )
                        record(
                            Figure(
                                "month",
                                f"send day: {held:,} bills waking at once, steady rate "
                                "(10th–90th percentile of completions)",
                                steady,
                                "bills/s",
                                base_steady,
                                "as many delayed one-activity workflows, the same percentiles",
                                Goal(low=1.5, of="ratio"),
                            )
                        )
                        line("   send day: completed (all)", held, done.all_s)
                        failed = await conn.fetchval(
                            "SELECT count(DISTINCT a.notification_id) FROM delivery_attempt a "
                            "JOIN notification n ON n.id = a.notification_id "
                            "WHERE n.published_at IS NOT NULL AND a.outcome = 'FAILED'"
                        )
                        print(
                            f"   {failed:,} of the day's bills had a failed attempt (their retry "
                            "or fallback is the tail past 99%)"
                        )
                        where_time_went("dispatch and send day", cpu, cpu_seconds(roots))
                        ids = [
                            r["workflow_id"]
                            for r in await conn.fetch(
                                "SELECT workflow_id FROM notification "
                                "WHERE published_at IS NOT NULL"
                            )
                        ]
                        our_wake = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - wake)
                        print("   " + (await task_waits(client, ids, our_wake)).line())
                        if until != "send-day":  # rounds of the send day alone stop here
                            picked = await conn.fetch(
                                "SELECT id FROM member WHERE preferred_day <> $1 "
                                "ORDER BY id LIMIT $2",
                                SEND_DAY,
                                min(100_000, members // 10),
                            )
                            # by the clock these workflows started with (the send day's moved on)
                            mark = time.perf_counter()
                            told = await dispatch(
                                client,
                                s3,
                                month_text,
                                "now",
                                members=[r["id"] for r in picked],
                                reserved_at=clock.now(s).isoformat(),
                            )
                            closed = await wait_closed(client, mine, told, mark, already=held)
                            rate = line(
                                "4. send now: woken and completed (to 99%)", told, closed.p99_s
                            )
                            name = (
                                f"send now: {told:,} scheduled bills woken and completed (to 99%)"
                            )
                            record(Figure("month", name, rate, "bills/s"))
                            line("   send now: completed (all)", told, closed.all_s)
        finally:
            for process in consumers:
                peak = rss_mib(process.pid)[1] if process.returncode is None else 0.0
                print(f"   consumer pid {process.pid}: peak {peak:,.0f} MiB")
                process.send_signal(signal.SIGTERM)
            await asyncio.gather(*(p.wait() for p in consumers))
            await pool.close()
            await conn.close()
        mine_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"   worker and bench (one process): peak {mine_peak:,.0f} MiB")
        for name, (now, peak) in (stack_memory(s) | {"temporal": rss_mib(temporal_pid)}).items():
            print(f"   {name}: {now:,.0f} MiB now, peak {peak:,.0f} MiB since it started")
        if until == "schedule":
            return  # the database and the server's folder wait for --resume
        if not keep:
            await drop_database(base, BENCH_DB)
            await drop_topics(s)
            if kept is not None:
                shutil.rmtree(kept, ignore_errors=True)


if __name__ == "__main__":

    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--send-day-share",
            type=float,
            help="the share of the members whose preferred day is the send day "
            "(default: the seed's, about 1/28)",
        )
        parser.add_argument(
            "--until",
            choices=("schedule", "send-day"),
            help="schedule: stop after phases 1–2, keeping the database and the server's "
            "folder under the stack's (a 1M month then fits two sittings); send-day: stop after "
            "phase 3 (rounds of the send day alone)",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="go on with phases 3–4 of the run stopped by --until (--members is ignored)",
        )
        parser.add_argument(
            "--baseline-unsandboxed",
            action="store_true",
            help="run the send day's baseline outside the workflow sandbox, as the notification "
            "runs (by default it has Temporal's default, the sandbox)",
        )
        parser.add_argument(
            "--stack-server",
            action="store_true",
            help="use the stack's Temporal server instead of a fresh dev server of the bench's own",
        )

    run_bench(main, __doc__, members=100_000, options=options)
