"""E-mails/s from `telebill consume email` into a real SMTP relay on this machine, beside the
simulated provider in the same run (issue 35's goal: ≥ 1,000 e-mails/s into a local relay with
two consumer processes).

    python -m bench.smtp --members 20000 [--processes 2] [--providers simulated,aiosmtpd,...]

1. seeds and settles N members in its own database (telebill_bench_smtp; not timed);
2. for each provider: `--processes` processes of one group on fresh topics, all of them in the
   group before one event per bill is published, until every event had its first attempt
   (retries are left out):
   - simulated: the default provider (1 s latency, 1% failures), as `make demo` sends;
   - aiosmtpd: TELEBILL_EMAIL_PROVIDER=smtp into `python -m aiosmtpd` with a handler that
     takes every message, keeps none and offers PIPELINING (bench/smtp_sink.py), a process of
     its own;
   - aiosmtpd-serial: the same without PIPELINING: one command at a time, to compare;
   - postfix: the same into a private Debian Postfix (tests/integration/postfix_relay.py) that
     delivers every member's mail into one Maildir; then until it delivered what it took;
3. prints each figure beside the simulated provider's, and records it for `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import deliverable_month, drop_database, drop_topics, run_bench, start_telebill
from bench.consumer_runs import Run, fresh_topics, publish, run_until, stop
from bench.figures import Figure, Goal, record
from bench.smtp_relays import relay_for
from telebill.config import Settings, get_settings
from telebill.messaging.kafka_auth import client_kwargs
from telebill.messaging.lag import GROUP_MARK
from tests.integration.postfix_relay import unavailable

BENCH_DB = "telebill_bench_smtp"
PROVIDERS = {
    "simulated": "the simulated provider (1 s latency, 1% failures)",
    "aiosmtpd": "aiosmtpd taking everything",
    "aiosmtpd-serial": "the same, PIPELINING not offered",
    "postfix": "Postfix into a Maildir",
}
GOAL = Goal(low=1_000)  # issue 35: into a local relay, two consumer processes
FIRST_ONLY = {"TELEBILL_RETRY_BASE_DELAY_S": "3600"}  # a retry is not this benchmark's part


@dataclass(frozen=True)
class Result:
    provider: str
    run: Run
    sent: int
    after: str = ""  # what the relay did with it afterwards
    relay_cpu_s: float = 0.0  # the relay's CPU from the first event until it was done


async def main(members: int, month_text: str, keep: bool, processes: int, providers: str) -> None:
    chosen = providers.split(",")
    if unknown := set(chosen) - set(PROVIDERS):
        raise SystemExit(f"--providers: no {', '.join(sorted(unknown))} ({', '.join(PROVIDERS)})")
    if "postfix" in chosen and (why := unavailable()):
        print(f"postfix: left out ({why})", file=sys.stderr)
        chosen.remove("postfix")
    base = get_settings()
    url, conn = await deliverable_month(base, BENCH_DB, members, month_text)
    installation = base.model_copy(update={"database_url": url})
    logs = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    results: list[Result] = []
    try:
        bills = await conn.fetch("SELECT id, member_id FROM bill ORDER BY id")
        rows = await conn.fetch("SELECT DISTINCT split_part(email, '@', 2) FROM member")
        domains = [r[0] for r in rows]
        for provider in chosen:
            print(f"{provider}: {len(bills):,} e-mails, {processes} process(es)…", flush=True)
            results.append(
                await measure(
                    installation, conn, provider, month_text, bills, domains, logs, processes
                )
            )
    finally:
        await conn.close()
        if not keep:
            await drop_database(base, BENCH_DB)
    print()
    show(results, len(bills), processes)
    print(f"(consumer and relay logs: {logs})")


async def measure(
    installation: Settings,
    conn: asyncpg.Connection,
    provider: str,
    month_text: str,
    bills: Sequence[asyncpg.Record],
    domains: Sequence[str],
    logs: Path,
    processes: int,
) -> Result:
    """`processes` consumers of one group sending through `provider`'s relay, until every bill
    had its first attempt."""
    async with relay_for(provider, domains, logs) as relay:
        await conn.execute("TRUNCATE notification, provider_message CASCADE")
        s = await fresh_topics(installation)
        env = FIRST_ONLY | relay.env
        log = logs / f"{provider}.log"
        consumers = [
            await start_telebill(s, ["consume", "email"], env, log) for _ in range(processes)
        ]
        try:
            # All of them in the group before the first event: otherwise the first to join
            # sends a small run alone while the others are still starting.
            await group_of(s, processes, consumers)
            started, relay_cpu = time.perf_counter(), relay.cpu_s()
            await publish(s, "email", month_text, bills)
            published = time.perf_counter()
            count = "SELECT count(DISTINCT notification_id) FROM delivery_attempt"
            run = await run_until(conn, consumers, count, len(bills))
        except BaseException:
            await stop(consumers)
            raise
        finally:
            await drop_topics(s)
        run.total_s += published - started  # from the first event published
        sent = await conn.fetchval(
            "SELECT count(DISTINCT notification_id) FROM delivery_attempt WHERE outcome = 'SENT'"
        )
        after = await relay.settled(sent, started)
        return Result(provider, run, sent, after, relay.cpu_s() - relay_cpu)


async def group_of(s: Settings, size: int, consumers: Sequence[asyncio.subprocess.Process]) -> None:
    """Until the e-mail group is Stable with `size` processes, on two readings in a row (a
    group still rebalancing lists its new member already)."""
    group, steady = s.topic_prefix + GROUP_MARK + "email", 0
    deadline = time.perf_counter() + 120
    admin = AIOKafkaAdminClient(**client_kwargs(s.kafka_servers))
    await admin.start()
    try:
        while steady < 2:
            if any(p.returncode is not None for p in consumers):
                raise SystemExit("a consumer process exited")
            if time.perf_counter() > deadline:
                raise SystemExit(f"the {size} consumers were not a stable group within 120 s")
            # (error_code, group_id, state, protocol_type, protocol, members, …)
            described = [g for r in await admin.describe_consumer_groups([group]) for g in r.groups]
            stable = any(
                g[1] == group and g[2] == "Stable" and len(g[5]) == size for g in described
            )
            steady = steady + 1 if stable else 0
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def show(results: Sequence[Result], n: int, processes: int) -> None:
    # From the first event published, not from the first recorded send: the consumers were
    # in their group already, and a consumer records a whole batch at once, so at a small
    # count the first record comes near the end.
    simulated = next((r for r in results if r.provider == "simulated"), None)
    baseline = n / simulated.run.total_s if simulated else None
    how = f"{n:,} events, {processes} process{'es' if processes > 1 else ''}"
    print(f"e-mail, {how}:")
    for r in results:
        rate = n / r.run.total_s
        print(
            f"  {PROVIDERS[r.provider]:52} {r.run.total_s:6.1f} s, {rate:>7,.0f} e-mails/s "
            f"from publishing ({r.sent:,} sent; {n / r.run.steady_s:,.0f}/s from the first "
            "recorded send)"
        )
        per_mail_ms = r.run.cpu_s / max(r.sent, 1) * 1000
        print(
            f"    the consumers' CPU: {r.run.cpu_s:.1f} s, {per_mail_ms:.2f} ms an e-mail sent "
            f"(one core: {1000 / per_mail_ms if per_mail_ms else 0:,.0f} e-mails/s)"
        )
        if r.relay_cpu_s:
            relay_ms = r.relay_cpu_s / max(r.sent, 1) * 1000
            print(f"    the relay's CPU: {r.relay_cpu_s:.1f} s, {relay_ms:.2f} ms an e-mail")
        if r.after:
            print(f"    {r.after}")
        relay = r.provider != "simulated"
        record(
            Figure(
                "smtp",
                f"e-mail, {how}: {PROVIDERS[r.provider]}, first attempts from publishing",
                rate,
                "e-mails/s",
                baseline if relay else None,
                PROVIDERS["simulated"] + ", same run" if relay and baseline else None,
                GOAL if relay and processes == 2 else None,
                f"{r.sent:,} sent; consumers' CPU {per_mail_ms:.2f} ms an e-mail; "
                f"peak RSS {r.run.peak_kib / 1024:,.0f} MiB" + (f"; {r.after}" if r.after else ""),
            )
        )


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processes", type=int, default=2, help="`telebill consume email`s")
    parser.add_argument("--providers", default=",".join(PROVIDERS), help="measured in this order")


if __name__ == "__main__":
    run_bench(main, __doc__, members=20_000, options=options)
