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

from telebill.messaging.lag import consumer_lag
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


async def members_in_group(platform: Platform, kind: str, wanted: int, within: float = 60) -> None:
    s = platform.settings
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            rows = await consumer_lag(s.kafka_servers, s.topic_prefix)
        except KafkaError:  # a broker just restarted is still loading its groups
            rows = []
        if any(r.group.endswith(f"telebill-{kind}") and r.members == wanted for r in rows):
            return
        assert asyncio.get_running_loop().time() < deadline, f"{wanted} consumers never joined"
        await asyncio.sleep(0.5)


async def lagging(platform: Platform, kinds: Sequence[str]) -> dict[str, int]:
    """Topic → events not yet committed by the groups of these kinds."""
    s = platform.settings
    rows = await consumer_lag(s.kafka_servers, s.topic_prefix)
    return {
        r.topic: r.lag
        for r in rows
        if r.lag and any(r.group.endswith(f"telebill-{k}") for k in kinds)
    }


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
