"""`telebill consume <kind> --scale auto`: a supervisor that runs `telebill consume <kind>`
processes, from a minimum to a maximum, on the lag of the kind's consumer group.

Every `TELEBILL_SCALE_INTERVAL_S` it reads the group's lag on the kind's main topic (the retry
tiers hold events that wait out a delay on purpose: they are not work that more processes would
do sooner), keeps the readings of the last `TELEBILL_SCALE_IDLE_S` or more, and asks the pure rule
of `telebill/domain/scaling.py` how many processes should run. It starts one with the same
environment, or stops the newest with SIGTERM (it finishes the batch it holds and commits, as on
any stop; killed after `TELEBILL_SCALE_STOP_TIMEOUT_S`). A process that exits by itself is
replaced at the next reading. Each decision that changes something, or whose reason changes, is
one log line. SIGTERM/SIGINT to the supervisor stops every process the same way, then itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from aiokafka.errors import KafkaError

from telebill.config import Settings
from telebill.domain.scaling import Decision, LagReading, ScalePolicy, decide
from telebill.messaging.consumer import group_id
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.lag import consumer_lag, expected_topics
from telebill.messaging.topics import Topics
from telebill.metrics import SCALED_PROCESSES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupLag:
    lag: int
    partitions: int


def main_topic(kind: str, topics: Topics) -> str:
    """The topic fresh work of `kind` arrives on: the first of those its group reads."""
    return expected_topics(topics, kind)[0]


async def read_group_lag(settings: Settings, kind: str) -> GroupLag | None:
    """The lag of `kind`'s group on its main topic; None before the group has committed or
    joined anything."""
    group = group_id(settings, kind)
    topic = main_topic(kind, Topics(settings.topic_prefix))
    for row in await consumer_lag(kafka_client_kwargs(settings), settings.topic_prefix):
        if row.group == group and row.topic == topic:
            return GroupLag(row.lag, row.partitions)
    return None


class ConsumerScaler:
    def __init__(self, settings: Settings, kind: str, minimum: int, maximum: int) -> None:
        self.settings = settings
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.running: list[asyncio.subprocess.Process] = []
        self.slots: dict[int, int] = {}  # pid → n: its metrics port is the supervisor's + n
        self.stopping: set[asyncio.Task[None]] = set()
        self.readings: deque[LagReading] = deque()
        self.last_change_at: float | None = None
        self.last_said: tuple[int, str] | None = None

    def policy(self, partitions: int) -> ScalePolicy:
        s = self.settings
        return ScalePolicy(
            minimum=min(self.minimum, partitions),
            maximum=min(self.maximum, partitions),
            drain_s=s.scale_drain_s,
            idle_s=s.scale_idle_s,
            cool_down_s=s.scale_cool_down_s,
            rate_window_s=3 * s.scale_interval_s,
        )

    async def run(self, stop: asyncio.Event) -> None:
        log.info(
            "%s: scaling %d–%d processes on the lag of %s",
            self.kind,
            self.minimum,
            self.maximum,
            main_topic(self.kind, Topics(self.settings.topic_prefix)),
        )
        try:
            await self._start(self.minimum)
            while not stop.is_set():
                await self.tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.scale_interval_s)
        finally:
            for process in list(self.running):
                self._stop(process)
            await asyncio.gather(*self.stopping, return_exceptions=True)
            SCALED_PROCESSES.labels(self.kind).set(0)
            log.info("%s: every process stopped", self.kind)

    async def tick(self) -> Decision | None:
        """Read the lag once and start or stop processes as the rule says."""
        try:
            return await self._tick()
        finally:  # the gauge follows every change of a tick, said once
            SCALED_PROCESSES.labels(self.kind).set(len(self.running))

    async def _tick(self) -> Decision | None:
        self._reap()
        try:
            group = await read_group_lag(self.settings, self.kind)
        except KafkaError as exc:  # a broker restarting: keep what runs, read again next time
            log.warning("%s: lag not read (%s); keeping %d", self.kind, exc, len(self.running))
            return None
        if group is None:  # the group has not joined yet: nothing to measure
            return None
        now = time.monotonic()
        self.readings.append(LagReading(now, group.lag))
        policy = self.policy(group.partitions)
        keep = max(policy.idle_s, policy.rate_window_s) * 1.5  # what the rule looks back on
        while self.readings and self.readings[0].at < now - keep:
            self.readings.popleft()
        decision = decide(policy, self.readings, len(self.running), self.last_change_at)
        said = (decision.processes, decision.reason.split(" ", 1)[0])
        if decision.processes != len(self.running):
            log.info(
                "%s: %d → %d processes: %s",
                self.kind,
                len(self.running),
                decision.processes,
                decision.reason,
            )
        elif said != self.last_said:
            log.info("%s: keeping %d: %s", self.kind, decision.processes, decision.reason)
        self.last_said = said
        if decision.processes > len(self.running):
            await self._start(decision.processes - len(self.running))
        elif decision.processes < len(self.running):
            for process in self.running[decision.processes :]:
                self._stop(process)
            self.last_change_at = now
        return decision

    def _reap(self) -> None:
        for process in list(self.running):
            if process.returncode is not None:
                log.warning(
                    "%s: process %d exited by itself (code %s); the next reading replaces it",
                    self.kind,
                    process.pid,
                    process.returncode,
                )
                self.running.remove(process)
                self.slots.pop(process.pid, None)

    async def _start(self, count: int) -> None:
        telebill = str(Path(sys.executable).parent / "telebill")
        env = os.environ | self.settings.process_env()
        for _ in range(count):
            slot = min(set(range(1, len(self.slots) + 2)) - set(self.slots.values()))
            if self.settings.metrics_port is not None:
                env["TELEBILL_METRICS_PORT"] = str(self.settings.metrics_port + slot)
            process = await asyncio.create_subprocess_exec(telebill, "consume", self.kind, env=env)
            self.running.append(process)
            self.slots[process.pid] = slot
            log.info("%s: started process %d", self.kind, process.pid)
        self.last_change_at = time.monotonic()

    def _stop(self, process: asyncio.subprocess.Process) -> None:
        self.running.remove(process)
        task = asyncio.create_task(self._finish(process))
        self.stopping.add(task)
        task.add_done_callback(self.stopping.discard)

    async def _finish(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM: the process finishes the batch it holds and commits; killed if it hangs."""
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), self.settings.scale_stop_timeout_s)
            log.info("%s: process %d stopped (code %s)", self.kind, process.pid, code)
        except TimeoutError:
            process.kill()
            await process.wait()
            log.warning(
                "%s: process %d did not stop in time and was killed", self.kind, process.pid
            )
        finally:
            self.slots.pop(process.pid, None)  # its metrics port is free for the next one
