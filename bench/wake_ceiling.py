"""The most a send day can get from its Temporal server: `--bills` workflows started delayed to
one instant, each one workflow task holding one local activity for `--hold` s and completing
(no PostgreSQL, Kafka or consumer: the notification's fast path with its work taken out),
beside the send day's baseline (started delayed too, then one activity) on the same server in
the same run. A send day does this and more, so its ratio to the baseline stays under this one's.

    python -m bench.wake_ceiling --bills 1137 --hold 2.5            (a fresh dev server)
    python -m bench.wake_ceiling --bills 1137 --hold 2.5 --upsert   (with the final upsert)
    python -m bench.wake_ceiling --stack-server ...                 (the stack's server:
                                                                     TELEBILL_TEMPORAL_SERVER)
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from bench.minimal_workflow import hold, noop
from bench.month_probes import Closed, delayed_then_work, fresh_dev_server, wake_together
from bench.month_workflows import DelayedThenWork, OneLocalTask
from telebill.config import Settings
from workers.temporal_worker import worker_options

FRESH_PORT = 27533  # the bench's own dev server (bench.month's is 27433)


async def one_task_each(
    client: Client, queue: str, n: int, lead: float, hold_s: float, upsert: bool
) -> Closed:
    prefix = f"{queue}-one-"

    async def start(i: int, left: float) -> object:
        return await client.start_workflow(
            OneLocalTask.run,
            args=[hold_s, upsert],
            id=f"{prefix}{i}",
            task_queue=queue,
            start_delay=timedelta(seconds=left),
        )

    return await wake_together(client, n, lead, prefix, start)


def show(label: str, closed: Closed, baseline: Closed | None = None) -> None:
    text = (
        f"{label:34} {closed.n:>7,}: steady {closed.steady_rate:7.1f}/s, "
        f"to 99% {closed.n / closed.p99_s:7.1f}/s"
    )
    if baseline is not None:
        text += (
            f"   ratio to the baseline: steady {closed.steady_rate / baseline.steady_rate:5.0%}, "
            f"to 99% {baseline.p99_s / closed.p99_s:5.0%}"
        )
    print(text, flush=True)


async def main(bills: int, hold_s: float, upsert: bool, stack_server: bool) -> None:
    s = Settings()
    async with AsyncExitStack() as scope:
        if stack_server:
            client = await Client.connect(s.temporal_target)
        else:
            client, _, _ = await scope.enter_async_context(fresh_dev_server(FRESH_PORT))
        queue = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
        lead = 20 + bills / 80  # time to start them all before the instant
        async with Worker(
            client,
            task_queue=queue,
            workflows=[DelayedThenWork, OneLocalTask],
            activities=[noop, hold],
            **worker_options(s),
        ):
            base = await delayed_then_work(client, queue, queue, bills, lead)
            show("baseline: delayed start + activity", base)
            ours = await one_task_each(client, queue, bills, lead, hold_s, upsert)
            what = f"one task, local activity {hold_s:g} s" + (", upsert" if upsert else "")
            show(what, ours, base)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bills", type=int, default=1137)
    parser.add_argument("--hold", type=float, default=2.5, help="the local activity's seconds")
    parser.add_argument("--upsert", action="store_true", help="upsert NotifyStatus at the end")
    parser.add_argument("--stack-server", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.bills, args.hold, args.upsert, args.stack_server))
