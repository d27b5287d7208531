"""One drill: a month of a few thousand members through settlement and delivery by real
processes, one fault at a seeded random moment, recovery with no human help, then the checks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from aiokafka.errors import KafkaError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from telebill import clock
from telebill.config import Settings
from tests.drills.checks import (
    Check,
    check_all,
    lag,
    longest_pause,
    progress,
    settled,
    sleeping,
)
from tests.drills.faults import Fault
from tests.drills.installation import MONTH, Installation, prepare
from tests.integration.conftest import Databases
from tests.integration.consumer_processes import group_sizes

# seconds into the phase
WINDOWS = {"settling": (0.5, 3.0), "publishing": (0.2, 2.0), "notifying": (1.0, 8.0)}
WINDOWS["sleeping"] = (0.5, 5.0)
WAKE_MARGIN_S = 40.0  # a "sleeping" fault and its recovery must fit before the sleepers wake
RECOVERY_LIMIT_S = 300.0
# A broker lost: the sends may pause for the leader election, and this much more (a client
# learns the new leaders on its next metadata refresh, and a batch in flight finishes).
ELECTION_SLACK_S = 3.0


@dataclass
class Result:
    drill: str
    fault: str
    seed: int
    members: int
    struck_at_s: float  # from the start of the run
    recovery_s: float  # from the fault until every due bill had its outcome and no lag
    moment: str = ""  # how far the month was when the fault struck
    note: str = ""  # what the strike said it did
    pause_s: float | None = None  # the longest time without a send after the strike
    checks: list[Check] = field(default_factory=list)
    exited: list[str] = field(default_factory=list)  # processes that died by themselves
    settle_runs: int = 1

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.exited

    def as_dict(self) -> dict[str, object]:
        return asdict(self) | {"ok": self.ok}


async def wait_for(probe: Callable[[], Awaitable[bool]], what: str, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await probe():
        if loop.time() > deadline:
            raise TimeoutError(f"{what} did not happen within {within:.0f} s")
        await asyncio.sleep(0.5)


async def polled(client: Client, inst: Installation) -> bool:
    """Whether the installation's worker polls each of its task queues, for workflow and for
    activity tasks (its queues are named after the installation: nobody else polls them)."""
    s = inst.settings
    for queue in (s.settlement_task_queue, s.dispatch_task_queue, s.task_queue):
        for kind in (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ):
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=s.temporal_namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=kind,
                )
            )
            if not described.pollers:
                return False
    return True


async def connected(client: Client, inst: Installation) -> bool:
    """The worker polls its task queues and every consumer is in its group."""
    sizes = await group_sizes(inst.settings)
    wanted = {"email": inst.email_consumers, "sms": 1, "dlq": 1}
    return all(sizes.get(k) == n for k, n in wanted.items()) and await polled(client, inst)


async def drill(fault: Fault, seed: int, members: int, base: Settings) -> Result:
    rng = random.Random(f"{fault.name}:{seed}")
    databases = Databases(base)
    inst = await prepare(base, databases, members, fault.sleep_s)
    inst.email_consumers = fault.email_consumers
    client = await Client.connect(base.temporal_target)
    loop = asyncio.get_running_loop()
    result = Result(fault.name, fault.what, seed, members, 0.0, 0.0)
    try:
        inst.start_all()
        await wait_for(
            lambda: connected(client, inst),
            "the worker polling, the consumers in their groups",
            120,
        )
        started = loop.time()
        inst.start("settle", "settle", "--month", MONTH, "--wait")
        if fault.phase in ("publishing", "notifying"):

            async def notifying() -> bool:
                return bool(await inst.conn.fetchval("SELECT count(*) FROM notification"))

            await wait_for(notifying, "the first notification", 120)
        elif fault.phase == "sleeping":

            async def asleep() -> bool:
                return await settled(inst) and await sleeping(inst) > 0

            await wait_for(asleep, "every due bill delivered, the sleepers asleep", 240)
        await asyncio.sleep(rng.uniform(*WINDOWS[fault.phase]))
        if inst.wake_at and (inst.wake_at - clock.now(inst.settings)).total_seconds() < (
            WAKE_MARGIN_S
        ):
            raise RuntimeError("the month was too slow: the sleepers wake before the fault")
        result.struck_at_s = round(loop.time() - started, 1)
        result.moment = await progress(inst)
        struck, struck_clock = loop.time(), clock.now(inst.settings)
        result.note = await fault.strike(inst, base) or ""

        async def recovered() -> bool:
            settle = inst.processes["settle"]
            if settle.poll() not in (None, 0):  # the client lost its server: run it again
                result.settle_runs += 1
                inst.restart("settle")
                return False
            if settle.poll() is None:
                return False
            if inst.wake_at and clock.now(inst.settings) < inst.wake_at:
                return False  # the sleepers' turn has not come
            try:
                return await settled(inst) and (await lag(inst)).ok
            except Exception:  # PostgreSQL or Kafka still coming back: asked again next time
                with contextlib.suppress(Exception):
                    await inst.reconnect()
                return False

        await wait_for(recovered, "recovery", RECOVERY_LIMIT_S)
        result.recovery_s = round(loop.time() - struck, 1)
        # recovered() read no lag once; a second reading in a row without any (the groups are
        # read one after another) also covers what one group published to another's topic
        # just before its commit. Every event is handled and committed then: nothing can be
        # sent again afterwards, so anything sent twice shows in the checks.
        quiet = 1

        async def no_lag_again() -> bool:
            nonlocal quiet
            try:
                quiet = quiet + 1 if (await lag(inst)).ok else 0
            except KafkaError:  # not answering for a moment: that reading does not count
                quiet = 0
            return quiet >= 2

        await wait_for(no_lag_again, "a second reading without lag", 60)
        await inst.reconnect()
        if fault.sleep_s is None:  # sleepers pause the sends by design
            result.pause_s = await longest_pause(inst, struck_clock)
        # Temporal's visibility (NotifyStatus) follows within seconds: checked until it has
        # (or this deadline passed, and the checks that failed say what differs)
        visible_by = loop.time() + 60
        while True:
            result.checks = await check_all(inst, client)
            if inst.election_s is not None and result.pause_s is not None:
                held = result.pause_s <= inst.election_s + ELECTION_SLACK_S
                result.checks.append(
                    Check(
                        "sends paused no longer than the leader election",
                        held,
                        f"longest pause {result.pause_s} s, election {inst.election_s} s "
                        f"(+{ELECTION_SLACK_S:.0f} s allowed)",
                    )
                )
            if all(c.ok for c in result.checks) or loop.time() > visible_by:
                break
            await asyncio.sleep(1)
        result.exited = inst.exited()
    finally:
        await inst.stop()
        await databases.drop_all()
    return result
