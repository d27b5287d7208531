"""Delivery rates with the simulated providers, each next to a raw consume-and-commit loop.

    python -m bench.consumers --members 100000 [--channels email,sms] [--processes 1,2]
                              [--auto 3] [--chain-members 100000]

1. seeds and settles N members in its own database (telebill_bench_deliver; not timed);
2. for each channel and each process count: one event per bill on a fresh topic (for SMS, as
   fallbacks arrive), a plain aiokafka loop that consumes and commits them doing nothing else
   (the baseline), then that many `telebill consume <channel>` processes of one group (e-mail
   1 s latency, SMS 0.2 s, 1% failures) until every event had its first attempt (quiet hours
   are cleared, so none is deferred); with --auto M, the same from one process under
   `telebill consume <channel> --scale auto --max M`, beside the best fixed count;
3. the chain (--chain-members of the bills; 0 to skip): e-mail failing --chain-failure of the
   calls, retries after 2, 4 and 8 s, SMS fallback, dead letters (bench/delivery_chain.py);
4. prints each figure beside its baseline, and records it for `make bench`.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.common import deliverable_month, drop_database, drop_topics, run_bench, start_telebill
from bench.consumer_runs import (
    Run,
    fresh_topics,
    publish,
    raw_loop,
    run_until,
)
from bench.delivery_chain import Chain, run_chain
from bench.figures import Figure, Goal, record
from telebill.config import Settings, get_settings

BENCH_DB = "telebill_bench_deliver"
LATENCY = {"email": "1 s", "sms": "0.2 s"}
UNIT = {"email": "e-mails/s", "sms": "SMS/s"}
GOAL = Goal(low=3_000)  # issue 16: each channel, on this 2-core machine


@dataclass(frozen=True)
class Phase:
    channel: str
    events: int
    how: str  # "2 processes", "--scale auto, 1–3 processes"
    raw_s: float
    run: Run
    sent: int
    decisions: list[str] = field(default_factory=list)  # what a scaling supervisor did

    @property
    def auto(self) -> bool:
        return self.how.startswith("--scale")


async def main(
    members: int,
    month_text: str,
    keep: bool,
    channels: str,
    processes: str,
    auto: int,
    chain_members: int,
    chain_failure: float,
) -> None:
    base = get_settings()
    kinds = channels.split(",")
    for kind in kinds:
        if kind not in LATENCY:
            raise SystemExit(f"--channels: {kind!r} is not email or sms")
    try:
        counts = [int(c) for c in processes.split(",")]
    except ValueError:
        raise SystemExit(f"--processes: {processes!r} is not a list of counts (e.g. 1,2)") from None
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text)
    installation = base.model_copy(update={"database_url": url})
    logs = Path(tempfile.mkdtemp(prefix="bench-consumers-"))
    try:
        bills = await conn.fetch("SELECT id, member_id FROM bill ORDER BY id")
        phases: list[Phase] = []
        for kind in kinds:
            for count in counts:
                phases.append(
                    await phase(installation, conn, kind, month_text, bills, count, 0, logs)
                )
            if auto:
                phases.append(
                    await phase(installation, conn, kind, month_text, bills, 1, auto, logs)
                )
        chain = None
        if chain_members:
            print(f"the chain over {min(chain_members, len(bills)):,} bills…", flush=True)
            await conn.execute("TRUNCATE notification, provider_message, dead_letter CASCADE")
            s = await fresh_topics(installation)
            try:
                chain = await run_chain(
                    s, conn, month_text, bills[:chain_members], chain_failure, logs / "chain.log"
                )
            finally:
                await drop_topics(s)
    finally:
        await conn.close()
        if not keep:
            await drop_database(base, BENCH_DB)
    print()
    for p in phases:
        show_phase(p, phases)
    if chain is not None:
        email = [p for p in phases if p.channel == "email" and p.how == plural(1)]
        show_chain(chain, email[0] if email else None)
    print(f"(consumer logs: {logs})")


async def phase(
    installation: Settings,
    conn: asyncpg.Connection,
    kind: str,
    month_text: str,
    bills: Sequence[asyncpg.Record],
    count: int,
    auto: int,
    logs: Path,
) -> Phase:
    how = f"--scale auto, 1–{auto} processes" if auto else plural(count)
    await conn.execute("TRUNCATE notification, provider_message CASCADE")
    s = await fresh_topics(installation)
    n = len(bills)
    try:
        topic = await publish(s, kind, month_text, bills)
        print(f"{kind}, {how}: raw consume-and-commit loop…", flush=True)
        raw_s = await raw_loop(s, topic, n)
        print(f"{kind}, {how}: `telebill consume {kind}`…", flush=True)
        log = logs / f"{kind}-{'auto' if auto else count}.log"
        args = ["consume", kind, *(["--scale", "auto", "--max", str(auto)] if auto else [])]
        first_only = {"TELEBILL_RETRY_BASE_DELAY_S": "3600"}  # retries are the chain's part
        started = [await start_telebill(s, args, first_only, log) for _ in range(count)]
        run = await run_until(conn, started, "SELECT count(*) FROM delivery_attempt", n)
    finally:
        await drop_topics(s)
    sent = await conn.fetchval("SELECT count(*) FROM delivery_attempt WHERE outcome = 'SENT'")
    said = log.read_text().splitlines() if auto else []
    decisions = [line[line.index(f"{kind}: ") :] for line in said if "→" in line]
    return Phase(kind, n, how, raw_s, run, sent, decisions)


def plural(count: int) -> str:
    return f"{count} process{'es' if count > 1 else ''}"


def show_phase(p: Phase, phases: Sequence[Phase]) -> None:
    unit = UNIT[p.channel]
    raw = p.events / p.raw_s
    low, high = p.run.second_half_mib()
    print(f"{p.channel}, {p.how}: {p.events:,} events, {LATENCY[p.channel]} latency, 1% failures")
    print(f"  raw consume+commit (baseline):  {p.raw_s:6.1f} s  {raw:>9,.0f}/s")
    print(
        f"  from the processes' start:      {p.run.total_s:6.1f} s  "
        f"{p.events / p.run.total_s:>9,.0f} {unit} ({p.sent:,} sent, "
        f"{p.events - p.sent:,} failed first time)"
    )
    print(
        f"  from the first recorded send:   {p.run.steady_s:6.1f} s  "
        f"{p.events / p.run.steady_s:>9,.0f} {unit}"
    )
    print(
        f"  memory (the largest process): peak RSS {p.run.peak_kib / 1024:,.0f} MiB; "
        f"over the second half {low:,.0f}–{high:,.0f} MiB"
    )
    for line in p.decisions:
        print(f"    {line}")
    name = f"{p.channel}, {p.events:,} events, {p.how}"
    record(
        Figure(
            "consumers",
            f"{name}: first attempts from the first send",
            p.events / p.run.steady_s,
            unit,
            raw,
            "bare consume-and-commit loop",
            GOAL,
            f"{p.events / p.run.total_s:,.0f}/s from the processes' start; "
            f"peak RSS {p.run.peak_kib / 1024:,.0f} MiB, {low:,.0f}–{high:,.0f} MiB "
            "over the second half",
        )
    )
    fixed = [q for q in phases if q.channel == p.channel and not q.auto]
    if p.auto and fixed:
        best = min(fixed, key=lambda q: q.run.total_s)
        print(f"  against the best fixed count ({best.how}): {best.run.total_s:.1f} s")
        record(
            Figure(
                "consumers",
                f"{name}: seconds to clear the backlog from the start",
                p.run.total_s,
                "s",
                best.run.total_s,
                f"the best fixed count ({best.how})",
                Goal(high=1.0, of="ratio"),
                "; ".join(p.decisions)
                or "it kept one process: at one process's rate the backlog would clear within "
                "TELEBILL_SCALE_DRAIN_S (60 s), so it never scaled up",
            )
        )


def show_chain(c: Chain, plain: Phase | None) -> None:
    rate = c.email_attempts_then / c.first_attempts_steady_s  # from the first send, as below
    baseline = plain.events / plain.run.steady_s if plain else None
    print(
        f"the chain: {c.events:,} events, e-mail failing {c.failure_rate:.0%} at random, "
        f"{c.always_failing} members failing on both channels, retries after 2, 4, 8 s"
    )
    print(
        f"  every first e-mail attempt in {c.first_attempts_s:.1f} s: {c.email_attempts_then:,} "
        f"e-mail attempts of every tier by then, {rate:,.0f}/s from the first send"
        + (f" (without failures: {baseline:,.0f}/s)" if baseline else "")
    )
    print(f"  every bill delivered or dead-lettered in {c.final.total_s:.1f} s:")
    for path, count in c.funnel.items():
        print(f"    {path:30} {count:>9,}")
    spread = c.expected_sms**0.5  # about Poisson
    print(
        f"  expected: SMS {c.expected_sms:,.0f} ± {spread:,.0f} (p⁴ of the others, less the SMS "
        f"provider's 1%), dead letters {c.always_failing:,} (the always-failing)"
    )
    record(
        Figure(
            "consumers",
            f"chain, {c.events:,} events, {c.failure_rate:.0%} e-mail failures: e-mail attempts "
            "of every tier until each event had its first",
            rate,
            "attempts/s",
            baseline,
            f"the same process count without failures ({plain.how})" if plain else None,
            Goal(low=0.9, of="ratio"),
            "retries waiting out their delay must not hold the others back",
        )
    )
    record(
        Figure(
            "consumers",
            f"chain, {c.events:,} events: every bill delivered or dead-lettered",
            c.final.total_s,
            "s",
            note=", ".join(f"{path} {count:,}" for path, count in c.funnel.items())
            + f"; expected SMS {c.expected_sms:,.0f} ± {c.expected_sms**0.5:,.0f}, dead letters "
            f"{c.always_failing}",
        )
    )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--channels", default="email,sms", help="the consumers to measure, in this order"
    )
    parser.add_argument(
        "--processes",
        default="1",
        help="consumer processes of each channel at once; a list runs each (e.g. 1,2)",
    )
    parser.add_argument(
        "--auto",
        type=int,
        default=0,
        metavar="MAX",
        help="also run `--scale auto` from one process up to MAX (0: not)",
    )
    parser.add_argument(
        "--chain-members",
        type=int,
        default=100_000,
        help="bills that go through the failing chain (0: skip it)",
    )
    parser.add_argument(
        "--chain-failure", type=float, default=0.3, help="the e-mail provider's failure rate there"
    )


if __name__ == "__main__":
    run_bench(main, __doc__, options=options)
