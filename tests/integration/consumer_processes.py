"""`telebill consume` as real child processes, for the process and drill tests."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from aiokafka.errors import KafkaError

from telebill.config import Settings
from telebill.messaging.lag import GROUP_MARK, consumer_lag
from tests.helpers import eventually
from tests.integration.delivery_platform import Platform

TELEBILL = str(Path(sys.executable).parent / "telebill")


def spawn(
    platform: Platform, kind: str, latency_s: float = 0.05, **extra_env: str
) -> subprocess.Popen[str]:
    """`telebill consume <kind>` on the platform's installation; providers that never fail."""
    s = platform.settings
    env = (
        os.environ
        | s.process_env()
        | {
            "TELEBILL_EMAIL_LATENCY_S": str(latency_s),
            "TELEBILL_SMS_LATENCY_S": str(latency_s),
            "TELEBILL_EMAIL_FAILURE_RATE": "0",
            "TELEBILL_SMS_FAILURE_RATE": "0",
            "TELEBILL_FAIL_ADDRESSES": "",
            "TELEBILL_RETRY_BASE_DELAY_S": str(s.retry_base_delay_s),
            "TELEBILL_RETRY_FACTOR": str(s.retry_factor),
        }
        | extra_env
    )
    return subprocess.Popen(
        [TELEBILL, "consume", kind],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def group_sizes(settings: Settings) -> dict[str, int]:
    """Kind (email, sms, dlq) → the processes in its consumer group now; {} while Kafka does
    not answer (a broker just restarted is still loading its groups)."""
    mark = settings.topic_prefix + GROUP_MARK
    try:
        rows = await consumer_lag(settings.kafka_servers, settings.topic_prefix)
    except KafkaError:
        return {}
    return {r.group.removeprefix(mark): r.members for r in rows}


async def members_in_group(platform: Platform, kind: str, wanted: int, within: float = 60) -> None:
    async def joined() -> bool:
        return (await group_sizes(platform.settings)).get(kind) == wanted

    await eventually(joined, f"{wanted} {kind} consumer(s) in their group", within, every=0.5)


async def caught_up(
    platform: Platform,
    kinds: Sequence[str],
    within: float = 60,
    alive: Sequence[subprocess.Popen[str]] = (),
) -> None:
    """Wait until the groups of these kinds have committed every event of every topic they
    read, on two readings in a row. A consumer commits an event only after handling it and
    publishing what follows it (a retry, the next channel, a dead letter), and the groups are
    read one after another: a reading that finds no lag after one that found none also covers
    what one group published to another's topic just before committing. Nothing is left to
    handle then, so nothing can be sent or dead-lettered again afterwards."""
    s = platform.settings
    mark = s.topic_prefix + GROUP_MARK
    quiet = 0
    left: dict[str, int] | str = "no reading yet"

    async def no_lag() -> bool:
        nonlocal quiet, left
        try:
            rows = await consumer_lag(s.kafka_servers, s.topic_prefix)
        except KafkaError as exc:  # a broker just restarted
            quiet, left = 0, f"Kafka did not answer: {exc}"
            return False
        mine = [r for r in rows if r.group.removeprefix(mark) in kinds]
        if missing := set(kinds) - {r.group.removeprefix(mark) for r in mine}:
            quiet, left = 0, f"no group yet for {sorted(missing)}"
            return False
        left = {r.topic: r.lag for r in mine if r.lag}
        quiet = 0 if left else quiet + 1
        return quiet >= 2

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await no_lag():
        for p in alive:
            assert p.poll() is None, f"process {p.pid} exited ({p.returncode}); lag left: {left}"
        assert loop.time() < deadline, (
            f"the {', '.join(kinds)} groups did not catch up within {within:g} s: {left}"
        )
        await asyncio.sleep(0.3)


class Output:
    """Collects a process's output while it runs (a thread reads the pipe)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self.thread = threading.Thread(target=self.lines.extend, args=(process.stdout,))
        self.thread.start()

    def last_assignment(self) -> int:
        counts = re.findall(r"assigned (\d+) partitions", "".join(self.lines))
        return int(counts[-1]) if counts else 0
