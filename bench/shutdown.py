"""SIGTERM → exit of every long-running command, idle and busy, against its deadline.

    python -m bench.shutdown [--members 20000] [--rounds 3]

Each case starts the command on an installation of its own, waits until it is in the state the
case names (a condition, never a fixed sleep), sends SIGTERM and times until the process is
gone. The goal of each is TELEBILL_SHUTDOWN_TIMEOUT_S (default 20 s; telebill/shutdown.py)
and a little for the process to end:
- worker: idle (polling); settling a month (a shard's activity mid-chunk); publishing bills
  whose Kafka topic is away (a local activity the SDK retries without end);
- e-mail consumer: idle; a backlog with the 1 s provider in flight; a provider that never
  answers;
- API: idle; a request whose announced body never comes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
from temporalio.client import Client
from temporalio.service import RPCError

from bench.common import deliverable_month, drop_database, fresh_database, run_bench
from bench.common import start_telebill as start
from bench.consumer_runs import fresh_topics, publish
from bench.figures import Figure, Goal, record
from telebill.clock import offset_to
from telebill.config import Settings, get_settings
from telebill.db.connect import connect
from telebill.domain.month import parse_month
from telebill.seed.load import seed_population
from workflows.settlement import MonthlySettlementWorkflow, SettlementInput

DB = "telebill_bench_shutdown"
MARGIN_S = 2.0
Ready = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Case:
    command: str
    state: str
    args: list[str]
    env: dict[str, str]
    ready: Ready


async def until(ready: Ready, what: str, within: float = 300) -> None:
    deadline = time.monotonic() + within
    while not await ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not reached in {within:.0f} s")
        await asyncio.sleep(0.1)


async def stop_time(s: Settings, client: Client, case: Case) -> float:
    process = await start(s, case.args, case.env)
    try:
        await until(case.ready, f"{case.command} {case.state}")
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), s.shutdown_timeout_s + 60)
        return time.monotonic() - began
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await terminate_left(client, case.env["TELEBILL_WORKFLOW_ID_PREFIX"])


async def terminate_left(client: Client, prefix: str) -> None:
    """The workflows a stopped worker left running (no worker will come back for them)."""
    query = f'WorkflowId STARTS_WITH "{prefix}" AND ExecutionStatus = "Running"'
    async for wf in client.list_workflows(query):
        with contextlib.suppress(RPCError):  # ended meanwhile (a child with its parent)
            await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("bench done")


async def main(members: int, month: str, keep: bool, rounds: int) -> None:
    settings = get_settings()
    client = await Client.connect(settings.temporal_target)
    url, conn = await deliverable_month(settings, DB, members, month)
    taken: dict[tuple[str, str], list[float]] = {}
    try:
        for n in range(1, rounds + 1):
            for case in await cases(settings, client, url, conn, members, month):
                seconds = await stop_time(settings, client, case)
                taken.setdefault((case.command, case.state), []).append(seconds)
                print(f"round {n}: {case.command:9} {case.state:40} {seconds:6.2f} s", flush=True)
    finally:
        await conn.close()
        if not keep:
            await drop_database(settings, DB)
            await drop_database(settings, DB + "_settle")
    limit = settings.shutdown_timeout_s + MARGIN_S
    print(f"\nSIGTERM → exit, median of {rounds} (deadline {settings.shutdown_timeout_s:g} s):")
    for (command, state), values in taken.items():
        median = statistics.median(values)
        print(f"  {command:9} {state:40} {median:6.2f} s (max {max(values):.2f})")
        record(
            Figure(
                "shutdown",
                f"{command}, {state}: SIGTERM to exit",
                round(median, 2),
                "s",
                goal=Goal(high=limit),
                note=f"median of {rounds}, max {max(values):.2f} s",
            )
        )


async def cases(
    settings: Settings,
    client: Client,
    url: str,
    conn: asyncpg.Connection,
    members: int,
    month: str,
) -> list[Case]:
    """Every case, each on an installation of its own (task queue, topics, database)."""
    out: list[Case] = []

    def beside(**changes: object) -> Settings:
        return settings.beside(f"stop{uuid.uuid4().hex[:6]}", url, **changes)

    idle = beside()
    out.append(Case("worker", "idle", ["worker"], idle.process_env(), polling(client, idle)))

    settle_url = await fresh_database(settings, DB + "_settle")
    seeded = await connect(settle_url)
    await seed_population(seeded, members, parse_month(month), None)
    settling = settings.beside(f"stop{uuid.uuid4().hex[:6]}", settle_url)
    out.append(
        Case(
            "worker",
            "settling a month",
            ["worker"],
            settling.process_env(),
            settlement_running(client, settling, seeded, month),
        )
    )

    # the bills of `month` due on the 1st; the clock on the 2nd; no topics for them
    await conn.execute("UPDATE member SET preferred_day = 1, timezone = 'Asia/Seoul'")
    await conn.execute("TRUNCATE notification, provider_message CASCADE")
    pretend = datetime(*next_month(month), 2, 12, 0, tzinfo=ZoneInfo("Asia/Seoul"))
    hung = beside(clock_offset_s=offset_to(pretend))
    out.append(
        Case(
            "worker",
            "publishing, its Kafka topic away",
            ["worker"],
            hung.process_env(),
            dispatched(client, hung, month),
        )
    )

    for state, latency in (("idle", None), ("a batch in flight (1 s provider)", 1.0)):
        s = await fresh_topics(beside())
        backlog = [] if latency is None else await conn.fetch("SELECT id, member_id FROM bill")
        out.append(
            Case(
                "consumer",
                state,
                ["consume", "email"],
                s.process_env() | {"TELEBILL_EMAIL_LATENCY_S": str(latency or 1.0)},
                consuming(s, conn, backlog, month),
            )
        )
    never = await fresh_topics(beside())
    out.append(
        Case(
            "consumer",
            "a provider that never answers",
            ["consume", "email"],
            never.process_env() | {"TELEBILL_EMAIL_LATENCY_S": "3600"},
            consuming(never, conn, await conn.fetch("SELECT id, member_id FROM bill"), month),
        )
    )
    port = 39000 + uuid.uuid4().int % 2000
    api = beside().process_env() | {"TELEBILL_API_PORT": str(port)}
    out.append(Case("api", "idle", ["api", "serve"], api, answering(port, slow=False)))
    out.append(
        Case(
            "api",
            "a request whose body never comes",
            ["api", "serve"],
            api,
            answering(port, slow=True),
        )
    )
    return out


def next_month(month: str) -> tuple[int, int]:
    first = parse_month(month)
    return (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)


def polling(client: Client, s: Settings) -> Ready:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    async def ready() -> bool:
        request = DescribeTaskQueueRequest(
            namespace=s.temporal_namespace,
            task_queue=TaskQueue(name=s.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        return bool((await client.workflow_service.describe_task_queue(request)).pollers)

    return ready


def settlement_running(client: Client, s: Settings, conn: asyncpg.Connection, month: str) -> Ready:
    started = False

    async def ready() -> bool:
        nonlocal started
        if not started:
            await client.start_workflow(
                MonthlySettlementWorkflow.run,
                SettlementInput(month=month, notify=False),
                id=f"{s.workflow_id_prefix}settlement-{month}",
                task_queue=s.settlement_task_queue,
            )
            started = True
        return bool(await conn.fetchval("SELECT count(*) FROM bill"))  # a chunk written

    return ready


def dispatched(client: Client, s: Settings, month: str) -> Ready:
    """A dispatch of the month started: its due bills' plans begin to publish."""
    from workflows.dispatch import DispatchInput, DispatchWorkflow

    started = False
    topic_away = polling(client, s)

    async def ready() -> bool:
        nonlocal started
        if not started and await topic_away():
            await client.start_workflow(
                DispatchWorkflow.run,
                DispatchInput(month=month),
                id=f"{s.workflow_id_prefix}dispatch-{month}",
                task_queue=s.dispatch_task_queue,
            )
            started = True
        if not started:
            return False
        running = await client.count_workflows(
            f'TaskQueue = "{s.task_queue}" AND WorkflowType = "BillNotificationWorkflow"'
        )
        return running.count > 0

    return ready


def consuming(
    s: Settings, conn: asyncpg.Connection, backlog: list[asyncpg.Record], month: str
) -> Ready:
    """Idle: the consumer has joined its group. Busy: the provider has taken part of the
    backlog (its answer is still to come)."""
    from telebill.messaging.lag import consumer_lag

    published = False

    async def ready() -> bool:
        nonlocal published
        rows = await consumer_lag(s.kafka_servers, s.topic_prefix)
        if not any(r.members for r in rows):
            return False
        if not backlog:
            return True
        if not published:  # as if nothing had been sent yet
            await conn.execute("TRUNCATE notification, provider_message CASCADE")
            await publish(s, "email", month, backlog)
            published = True
        return bool(await conn.fetchval("SELECT count(*) FROM provider_message"))

    return ready


def answering(port: int, slow: bool) -> Ready:
    holder: list[socket.socket] = []

    async def ready() -> bool:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            return False
        if slow:  # headers, and a body announced that never comes
            sock.sendall(
                b"POST /api/templates/email/monthly_bill/preview HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            holder.append(sock)
        else:
            sock.close()
        return True

    return ready


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rounds", type=int, default=3, help="times each case is run")


if __name__ == "__main__":
    run_bench(main, __doc__, members=20_000, options=options)
