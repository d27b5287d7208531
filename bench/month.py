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
import json
import shutil
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from bench.common import (
    drop_database,
    drop_topics,
    run_bench,
)
from bench.figures import Figure, Goal, record
from bench.month_probes import (
    cpu_seconds,
    delayed_starts,
    temporal_disk,
    wait_closed,
)
from bench.month_sitting import sitting
from bench.month_steps import (
    BENCH_DB,
    SEND_DAY,
    SEOUL,
    SendDay,
    dispatch,
    line,
    month_options,
    planned_later,
    prepare,
    settle,
    where_time_went,
)
from bench.month_workflows import DelayedThenWork, DelayedThenWorkUnsandboxed
from telebill import clock
from telebill.config import asyncpg_dsn, get_settings
from telebill.domain.month import parse_month
from workers.temporal_worker import build_worker
from workflows.dispatch import DispatchResult

STATE = "state.json"  # a split run's, between its two parts


def write_state(
    kept: Path, members: int, month: str, tag: str, url: str, schedule_done: bool
) -> None:
    """What `--resume` needs to go on with this run; `schedule_done` False: the schedule was
    still running, and the resumed run waits for its dispatch first."""
    stopped = datetime.now(SEOUL).isoformat(timespec="minutes")
    state = {"members": members, "month": month, "tag": tag, "url": url, "stopped": stopped}
    (kept / STATE).write_text(json.dumps(state | {"schedule_done": schedule_done}))


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
    async with sitting(base, url, tag, before, stack_server, kept) as sit:
        client, s, pool, roots, folder = sit.client, sit.s, sit.pool, sit.roots, sit.folder
        baseline_queue, mine = sit.baseline_queue, sit.bills
        print(f"{members:,} members, month {month_text}; {day_members:,} on day {SEND_DAY}")
        try:
            if not resume:
                await settle(client, pool, s, month_text)
                async with build_worker(client, pool, s):
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
                    f"   {scheduled:,} scheduled in all; Temporal's disk {per:.1f} KiB per workflow"
                )
            if until != "schedule":
                # 3. the send day: the baseline first, then the clock set so that the day's
                # start comes `lead` s after the dispatch begins
                day = SendDay(
                    client, conn, s, month_text, send_month, day_members, roots, folder,
                    bench="month", query=mine,
                )  # fmt: skip
                kind = DelayedThenWorkUnsandboxed if baseline_unsandboxed else DelayedThenWork
                await day.run_baseline(baseline_queue, kind)
                s3, wake = day.clock()
                async with build_worker(client, pool, s3):
                    held = await day.run(s3, wake)
                    if until != "send-day":  # rounds of the send day alone stop here
                        picked = await conn.fetch(
                            "SELECT id FROM member WHERE preferred_day <> $1 ORDER BY id LIMIT $2",
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
                        rate = line("4. send now: woken and completed (to 99%)", told, closed.p99_s)
                        name = f"send now: {told:,} scheduled bills woken and completed (to 99%)"
                        record(Figure("month", name, rate, "bills/s"))
                        line("   send now: completed (all)", told, closed.all_s)
        finally:
            await conn.close()
    if until == "schedule":
        return  # the database and the server's folder wait for --resume
    if not keep:
        await drop_database(base, BENCH_DB)
        await drop_topics(s)
        if kept is not None:
            shutil.rmtree(kept, ignore_errors=True)


if __name__ == "__main__":

    def options(parser: argparse.ArgumentParser) -> None:
        month_options(parser)
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

    run_bench(main, __doc__, members=100_000, options=options)
