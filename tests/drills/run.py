"""One drill: a month of a few thousand members through settlement and delivery by real
processes, one fault at a seeded random moment, recovery with no human help, then the checks."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

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
from tests.drills.installation import MONTH, prepare
from tests.integration.conftest import Databases

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
        await asyncio.sleep(3)  # the worker and the consumers connect
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
            except Exception:  # PostgreSQL or Kafka still coming back
                await asyncio.sleep(1)
                with contextlib.suppress(Exception):
                    await inst.reconnect()
                return False

        await wait_for(recovered, "recovery", RECOVERY_LIMIT_S)
        result.recovery_s = round(loop.time() - struck, 1)
        await asyncio.sleep(2)  # anything sent twice would show by now
        await inst.reconnect()
        if fault.sleep_s is None:  # sleepers pause the sends by design
            result.pause_s = await longest_pause(inst, struck_clock)
        for _ in range(30):  # Temporal's visibility (NotifyStatus) follows within seconds
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
            if all(c.ok for c in result.checks):
                break
            await asyncio.sleep(2)
        result.exited = inst.exited()
    finally:
        await inst.stop()
        await databases.drop_all()
    return result
