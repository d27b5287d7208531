"""The faults a drill injects, and the recovery that follows with no human in it: a killed
process is started again by its supervisor (systemd, Kubernetes: here the drill), a killed
service by its service manager, after a few seconds."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telebill.config import Settings
from telebill.stack.kafka import Kafka
from telebill.stack.postgres import Postgres
from telebill.stack.process import stop_pid
from telebill.stack.service import Service
from telebill.stack.temporal import Temporal
from tests.drills.installation import Installation

Strike = Callable[[Installation, Settings], Awaitable[None]]
DOWN_S = 3.0  # how long a killed process or service stays down


@dataclass(frozen=True)
class Fault:
    name: str
    phase: str  # "settling" or "notifying": the drill strikes at a seeded moment within it
    what: str
    strike: Strike
    fast: bool = False  # part of `make test` (the others run in `make drills`)


def kill_process(role: str) -> Strike:
    async def strike(inst: Installation, _: Settings) -> None:
        inst.kill(role)
        await asyncio.sleep(DOWN_S)
        inst.restart(role)

    return strike


def kill_service(service: Callable[[Settings], Service], sig: signal.Signals) -> Strike:
    async def strike(_: Installation, base: Settings) -> None:
        s = service(base)
        pid = s.pid()
        if s.external or pid is None:
            raise RuntimeError(f"{s.name} is not this stack's own: the drill cannot kill it")
        stop_pid(pid, s.marker, sig, timeout=30)
        await asyncio.sleep(DOWN_S)
        await s.up()

    return strike


async def nothing(inst: Installation, base: Settings) -> None:
    return None


FAULTS = [
    Fault("baseline", "notifying", "none (the same month without a fault)", nothing),
    Fault(
        "worker-kill-settling", "settling", "SIGKILL the Temporal worker", kill_process("worker")
    ),
    Fault(
        "worker-kill-publishing",
        "notifying",
        "SIGKILL the Temporal worker",
        kill_process("worker"),
    ),
    Fault(
        "consumer-kill",
        "notifying",
        "SIGKILL the e-mail consumer",
        kill_process("email"),
        fast=True,
    ),
    Fault(
        "kafka-kill", "notifying", "SIGKILL the Kafka broker", kill_service(Kafka, signal.SIGKILL)
    ),
    Fault(
        "temporal-kill",
        "notifying",
        "SIGKILL the Temporal server",
        kill_service(Temporal, signal.SIGKILL),
    ),
    Fault(
        "postgres-immediate-settling",
        "settling",
        "stop PostgreSQL (immediate)",
        kill_service(Postgres, signal.SIGQUIT),
    ),
    Fault(
        "postgres-immediate-delivering",
        "notifying",
        "stop PostgreSQL (immediate)",
        kill_service(Postgres, signal.SIGQUIT),
    ),
]
