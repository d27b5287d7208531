"""The faults a drill injects, and the recovery that follows with no human in it: a killed
process is started again by its supervisor (systemd, Kubernetes: here the drill), a killed
service by its service manager, after a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient

from telebill import clock
from telebill.config import Settings
from telebill.messaging.topics import Topics
from telebill.stack.kafka import Kafka, quiet_kafka_logs
from telebill.stack.postgres import Postgres
from telebill.stack.process import signal_owned
from telebill.stack.service import Service
from telebill.stack.temporal import Temporal
from tests.drills.installation import Installation

# A strike may say what it did (which node, how long the election took) for the report.
Strike = Callable[[Installation, Settings], Awaitable[str | None]]
DOWN_S = 3.0  # how long a killed process or service stays down


@dataclass(frozen=True)
class Fault:
    name: str
    # The drill strikes at a seeded moment of: "settling", "publishing" (the notification
    # workflows' first seconds), "notifying" (publishing and delivering) or "sleeping" (every
    # due bill delivered, the sleepers' workflows waiting for their instant)
    phase: str
    what: str
    strike: Strike
    fast: bool = False  # part of `make test` (the others run in `make drills`)
    sleep_s: float | None = None  # sleepers, woken this long after the start (see prepare)
    email_consumers: int = 1
    brokers: int = 1  # the Kafka brokers it needs (TELEBILL_KAFKA_BROKERS)


def kill_process(role: str) -> Strike:
    async def strike(inst: Installation, _: Settings) -> None:
        inst.kill(role)
        await asyncio.sleep(DOWN_S)
        inst.restart(role)
        return None

    return strike


def kill_service(service: Callable[[Settings], Service], sig: signal.Signals) -> Strike:
    async def strike(_: Installation, base: Settings) -> None:
        s = service(base)
        if s.external:
            raise RuntimeError(f"{s.name} is not this stack's own: the drill cannot kill it")
        signal_owned(s, s.name, sig)
        await asyncio.sleep(DOWN_S)
        await s.up()
        return None

    return strike


def hang_process(role: str, hung_s: float) -> Strike:
    """SIGSTOP: alive to the kernel, silent to Kafka, past the group's session timeout (10 s),
    so the group gives its partitions to another process; then SIGCONT, with its batch."""

    async def strike(inst: Installation, _: Settings) -> None:
        inst.kill(role, signal.SIGSTOP)
        await asyncio.sleep(hung_s)
        inst.kill(role, signal.SIGCONT)
        return None

    return strike


async def jump_clock(inst: Installation, _: Settings) -> str:
    """Forward past the sleepers' instant (a minute past it)."""
    assert inst.wake_at is not None
    jump = (inst.wake_at - clock.now(inst.settings)).total_seconds() + 60
    await inst.move_clock(jump)
    return f"clock moved {jump:,.0f} s forward"


async def leaders(servers: str, topic: str) -> dict[int, int]:
    """Partition → the broker leading it (-1: none yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=5000)
    with quiet_kafka_logs():  # asking the dead node first is expected
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
            return {p["partition"]: p["leader"] for p in described["partitions"]}
        finally:
            await admin.close()


async def kill_leading_broker(inst: Installation, base: Settings) -> str:
    """SIGKILL the node leading partition 0 of the e-mail topic; time how long until every
    partition has a live leader again (the election); restart the node after DOWN_S."""
    kafka = Kafka(base)
    topic = Topics(inst.settings.topic_prefix).channel("email")
    led = await leaders(base.kafka_servers, topic)
    victim = next(n for n in kafka.nodes if n.id == led[0])
    loop = asyncio.get_running_loop()
    struck = loop.time()
    signal_owned(victim, f"Kafka node {victim.id}")
    while True:
        with contextlib.suppress(Exception):  # a client may first ask the dead node
            now = await leaders(base.kafka_servers, topic)
            if all(b not in (victim.id, -1) for b in now.values()):
                break
        await asyncio.sleep(0.1)
    elected = loop.time() - struck
    inst.election_s = round(elected, 1)
    await asyncio.sleep(max(0.0, DOWN_S - elected))
    await kafka.up()
    return f"node {victim.id} of {len(kafka.nodes)} killed; partitions led again in {elected:.1f} s"


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
        "consumer-hang",
        "notifying",
        "SIGSTOP one of two e-mail consumers for 25 s",
        hang_process("email", 25.0),
        email_consumers=2,
    ),
    Fault(
        "kafka-kill-delivering",
        "notifying",
        "SIGKILL the Kafka broker",
        kill_service(Kafka, signal.SIGKILL),
    ),
    Fault(
        "kafka-kill-publishing",
        "publishing",
        "SIGKILL the Kafka broker",
        kill_service(Kafka, signal.SIGKILL),
    ),
    Fault(
        "broker-kill-delivering",
        "notifying",
        "SIGKILL one of three Kafka brokers (the e-mail topic's first leader)",
        kill_leading_broker,
        brokers=3,
    ),
    Fault(
        "broker-kill-publishing",
        "publishing",
        "SIGKILL one of three Kafka brokers (the e-mail topic's first leader)",
        kill_leading_broker,
        brokers=3,
    ),
    Fault(
        "temporal-kill-publishing",
        "publishing",
        "SIGKILL the Temporal server",
        kill_service(Temporal, signal.SIGKILL),
    ),
    Fault(
        "temporal-kill-sleeping",
        "sleeping",
        "SIGKILL the Temporal server",
        kill_service(Temporal, signal.SIGKILL),
        sleep_s=150.0,
    ),
    Fault(
        "clock-jump",
        "sleeping",
        "the clock jumps forward an hour, past the sleepers' instant",
        jump_clock,
        sleep_s=3600.0,
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
