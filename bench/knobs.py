"""What bench.server_knobs and bench.production_knobs measure on each variant of a Temporal
server, and how they report it: bare delayed starts with the four search attributes
(starts/s: what scheduling a month costs), then one-activity workflows started delayed to one
instant (completed/s: what a send day costs); variants in rounds that alternate the order."""

from __future__ import annotations

import argparse
import statistics
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.worker import Worker

from bench.figures import Figure, record
from bench.minimal_workflow import noop
from bench.month_probes import delayed_starts, delayed_then_work
from bench.month_workflows import DelayedNoop, DelayedThenWork
from telebill.config import Settings
from workers.temporal_worker import worker_options

Rates = tuple[float, float]  # delayed starts/s, timer+activity workflows completed/s


async def workload(client: Client, settings: Settings, starts: int, workflows: int) -> Rates:
    queue, tag = f"knobs-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6]
    async with Worker(
        client,
        task_queue=queue,
        workflows=[DelayedNoop, DelayedThenWork],
        activities=[noop],
        **worker_options(settings),
    ):
        rate = await delayed_starts(client, queue, tag, "2026-11", starts)
        lead = 10 + workflows / 60
        woke = await delayed_then_work(client, queue, tag, workflows, lead)
    return rate, workflows / woke.all_s


async def rounds(
    names: list[str], n: int, one: Callable[[str], Awaitable[Rates]]
) -> dict[str, list[Rates]]:
    """`one(name)` for every variant, `n` rounds, every other round in reverse order."""
    results: dict[str, list[Rates]] = {name: [] for name in names}
    for r in range(n):
        for name in names if r % 2 == 0 else list(reversed(names)):
            print(f"round {r + 1}: {name}…", flush=True)
            results[name].append(await one(name))
    return results


def report(bench: str, results: dict[str, list[Rates]], starts: int, workflows: int) -> None:
    """The table, each variant beside the first (today's settings), and the figures."""
    today = next(iter(results.values()))
    base_starts = statistics.mean(x[0] for x in today)
    base_woke = statistics.mean(x[1] for x in today)
    print(f"\n{'variant':40} {'delayed starts/s':>18} {'timer+activity/s':>18}")
    for i, (name, runs) in enumerate(results.items()):
        s = statistics.mean(x[0] for x in runs)
        w = statistics.mean(x[1] for x in runs)
        print(
            f"{name:40} {s:10.1f} ({s / base_starts:4.0%}) {w:10.1f} ({w / base_woke:4.0%})"
            f"   rounds: {', '.join(f'{a:.0f}/{b:.0f}' for a, b in runs)}"
        )
        if i == 0:
            continue
        for what, value, base, unit in (
            (f"{starts:,} delayed starts", s, base_starts, "starts/s"),
            (f"{workflows:,} timer+activity workflows", w, base_woke, "workflows/s"),
        ):
            record(Figure(bench, f"{name}: {what}", value, unit, base, "today's settings"))


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The workload's size and the rounds, for either benchmark's command line."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=2_000, help="bare delayed starts")
    parser.add_argument(
        "--workflows", type=int, default=600, help="timer + activity workflows woken at once"
    )
    parser.add_argument("--rounds", dest="rounds_n", type=int, default=2)
    return parser
