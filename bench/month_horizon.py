"""The design card's literal shape: every bill's workflow asleep in Temporal from the settlement
on, the start horizon a month (TELEBILL_NOTIFY_START_HORIZON_H), beside bench.month's default
of 36 h, where a bill's workflow starts the day before its own.

    python -m bench.month_horizon --members 1000000 --stack-server    (hours)

1. seed N members (not timed) and settle the month through MonthlySettlementWorkflow;
2. the schedule with the horizon a month, the installation's clock three days before the send
   month: every bill's workflow started, delayed until its instant. The send day's bills are
   left to phase 3 (the others are dispatched first, by lists of at most 100,000 members), so
   that they are started the way bench.month starts them, on a server that now holds the
   month's other sleepers. Beside it: bare delayed starts (N/20); Temporal's disk per sleeping
   workflow and in all;
3. the send day with the month asleep on the server: as many one-activity workflows woken at
   once first, then the daily dispatch starts the day's bills delayed until the day's start;
   they wake at once, are delivered by the consumers and complete (bench.month's phase 3).
The month's other sleepers stay on the server (their instants are days ahead): on a fresh dev
server they go with it; on the stack's, `telebill stack down --purge` removes them.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from bench.common import drop_database, drop_topics, run_bench
from bench.figures import Figure, record
from bench.month_probes import cpu_seconds, delayed_starts, temporal_disk
from bench.month_sitting import sitting
from bench.month_steps import (
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
from bench.month_workflows import DelayedThenWork
from telebill.config import get_settings
from telebill.domain.month import parse_month
from workers.temporal_worker import build_worker

LIST_SIZE = 100_000  # members named in one dispatch's input (about 0.8 MB, under 2 MB)
HORIZON_DB = "telebill_bench_horizon"  # not bench.month's: a kept --until run stays


async def main(
    members: int, month_text: str, keep: bool, send_day_share: float | None, stack_server: bool
) -> None:
    base = get_settings()
    tag = uuid.uuid4().hex[:6]
    url, conn = await prepare(base, members, month_text, send_day_share, HORIZON_DB)
    month = parse_month(month_text)
    send_month = (month + timedelta(days=32)).replace(day=1)
    first = datetime(send_month.year, send_month.month, 1, tzinfo=SEOUL)
    before = first - timedelta(days=3)
    # from the clock to the send month's end (preferred days run to 31), and a day more
    end = (send_month + timedelta(days=32)).replace(day=1)
    after = datetime(end.year, end.month, 1, tzinfo=SEOUL)
    horizon_h = (after - before) / timedelta(hours=1) + 24
    others = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM member WHERE preferred_day <> $1 ORDER BY id", SEND_DAY
        )
    ]
    day_members = members - len(others)
    async with sitting(base, url, tag, before, stack_server) as sit:
        client, s, roots = sit.client, sit.s, sit.roots
        print(f"{members:,} members, month {month_text}; {day_members:,} on day {SEND_DAY}")
        try:
            await settle(client, sit.pool, s, month_text)
            bare = await delayed_starts(
                client, sit.baseline_queue, tag, month_text, min(max(members // 20, 2_000), 20_000)
            )
            # 2. the schedule, the horizon a month: the month's other days' bills started
            month_long = s.model_copy(update={"notify_start_horizon_h": horizon_h})
            disk = await temporal_disk(sit.folder, conn)
            began, cpu = time.perf_counter(), cpu_seconds(roots)
            started = 0
            async with build_worker(client, sit.pool, month_long):
                for i in range(0, len(others), LIST_SIZE):
                    chunk = others[i : i + LIST_SIZE]
                    started += await dispatch(
                        client, month_long, month_text, f"sch{i}", members=chunk
                    )
                    done = time.perf_counter() - began
                    print(f"   {started:,} started in {done:.0f} s ({started / done:.1f}/s)")
            rate = line(
                "2. scheduled (workflows started)", started, time.perf_counter() - began, bare
            )
            where_time_went("scheduling", cpu, cpu_seconds(roots))
            grown = await temporal_disk(sit.folder, conn) - disk
            per = grown / max(started, 1) / 1024
            print(
                f"   Temporal's disk +{grown / 2**30:,.2f} GiB, {per:.1f} KiB per sleeping workflow"
            )
            asleep = (await client.count_workflows(sit.bills)).count
            print(f"   {asleep:,} bill workflows asleep on the server")
            unstarted = await planned_later(conn, month)
            if unstarted:
                raise SystemExit(f"{unstarted:,} bills planned and not started: the horizon")
            record(
                Figure(
                    "month-horizon",
                    f"schedule, the horizon a month: {started:,} bill workflows started delayed",
                    rate,
                    "bills/s",
                    bare,
                    "bare delayed starts of a no-op workflow, same search attributes",
                )
            )
            record(Figure("month-horizon", "Temporal's disk per sleeping bill", per, "KiB"))
            # 3. the send day, with the month asleep on the server
            day = SendDay(
                client, conn, s, month_text, send_month, day_members, roots, sit.folder,
                bench="month-horizon",
                # the day's by their instant: a count over the month's sleepers every half
                # second would be work the baseline's count has no equivalent of
                query=f"{sit.bills} AND SendAt < '{(first + timedelta(days=1)).isoformat()}'",
            )  # fmt: skip
            await day.run_baseline(sit.baseline_queue, DelayedThenWork)
            s3, wake = day.clock()
            async with build_worker(client, sit.pool, s3):
                await day.run(s3, wake)
        finally:
            await conn.close()
    if not stack_server:
        print("   the month's other sleepers went with the bench's dev server")
    else:
        print("   the month's other sleepers stay on the stack's server (stack down --purge)")
    if not keep:
        await drop_database(base, HORIZON_DB)
        await drop_topics(s)


if __name__ == "__main__":
    run_bench(main, __doc__, members=100_000, options=month_options)
