"""The dev server's free settings, measured: each variant on a fresh dev server of its own
(other ports, its database in a temporary folder), the same workload, in rounds that alternate
the order.

    python -m bench.server_knobs --starts 2000 --workflows 600 --rounds 2

Workload: bare delayed starts with the four search attributes (starts/s: what scheduling a
month costs), then one-activity workflows started delayed to one instant (completed/s: what a
send day costs). The variants add to the stack's own settings (`DEV_SERVER_TUNING`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import uuid

from temporalio.worker import Worker

from bench.figures import Figure, record
from bench.minimal_workflow import noop
from bench.month_probes import delayed_starts, delayed_then_work, fresh_dev_server
from bench.month_workflows import DelayedNoop, DelayedThenWork
from telebill.config import get_settings
from workers.temporal_worker import worker_options

PORT = 57433  # beside the stack's 57233, below the ephemeral range
VARIANTS: dict[str, list[str]] = {
    "today (WAL)": [],
    "synchronous=NORMAL": ["--sqlite-pragma", "synchronous=NORMAL"],
    "no SA cache refresh on read": [
        "--dynamic-config-value",
        "system.forceSearchAttributesCacheRefreshOnRead=false",
    ],
    "history.shardIOConcurrency=4": ["--dynamic-config-value", "history.shardIOConcurrency=4"],
}


async def one_variant(extra: list[str], starts: int, workflows: int) -> tuple[float, float]:
    base = get_settings()
    async with fresh_dev_server(PORT, extra) as (client, _pid, _folder):
        queue, tag = f"knobs-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6]
        async with Worker(
            client,
            task_queue=queue,
            workflows=[DelayedNoop, DelayedThenWork],
            activities=[noop],
            **worker_options(base),
        ):
            rate = await delayed_starts(client, queue, tag, "2026-11", starts)
            lead = 10 + workflows / 60
            woke = await delayed_then_work(client, queue, tag, workflows, lead)
        return rate, workflows / woke.all_s


async def main(starts: int, workflows: int, rounds: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    for r in range(rounds):
        order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
        for name in order:
            print(f"round {r + 1}: {name}…", flush=True)
            results[name].append(await one_variant(VARIANTS[name], starts, workflows))
    today = results["today (WAL)"]
    base_starts = statistics.mean(x[0] for x in today)
    base_woke = statistics.mean(x[1] for x in today)
    print(f"\n{'variant':32} {'delayed starts/s':>18} {'timer+activity/s':>18}")
    for name, runs in results.items():
        s = statistics.mean(x[0] for x in runs)
        w = statistics.mean(x[1] for x in runs)
        print(
            f"{name:32} {s:10.1f} ({s / base_starts:4.0%}) {w:10.1f} ({w / base_woke:4.0%})"
            f"   rounds: {', '.join(f'{a:.0f}/{b:.0f}' for a, b in runs)}"
        )
        if name == "today (WAL)":
            continue
        for what, value, base, unit in (
            (f"{starts:,} delayed starts", s, base_starts, "starts/s"),
            (f"{workflows:,} timer+activity workflows", w, base_woke, "workflows/s"),
        ):
            record(Figure("server_knobs", f"{name}: {what}", value, unit, base, "today's settings"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=2_000)
    parser.add_argument("--workflows", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(**vars(parser.parse_args())))
