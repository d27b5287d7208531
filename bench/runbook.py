"""The runbook (docs/runbook.md) rehearsed on the staging installation: the alerts that can be
caused in minutes are caused at once, each entry's "look at" commands are run while its alert
fires, then its "do" step, and the alert is watched until it clears.

    python -m bench.runbook            (after `make staging`; about 16 minutes)

Caused: the e-mail, SMS and dead-letter consumers stopped, the notification queue's worker
stopped, both Schedules deleted, a malformed event published to the e-mail topic. The rest
(lag growing for 10 minutes, STUCK after 3 h, overdue after 1 h, a Schedule paused for 6 h or
failing) take hours to cause here: their rules' unit tests (deploy/prometheus/alerts_test.yml)
are what covers them.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer

from bench.staging import staging_settings, until
from bench.staging_watch import Seen, Timeline, watch_alerts
from telebill.config import Settings
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.topics import Topics
from telebill.staging import layout
from telebill.staging.installation import Staging
from telebill.temporal_client import connect_client

STOPPED = {
    "TelebillEmailConsumerMissing": "consumer-email",
    "TelebillSmsConsumerMissing": "consumer-sms",
    "TelebillDeadLetterConsumerMissing": "consumer-dlq",
    "TelebillWorkerDown": "worker-notification",
}
SCHEDULES = {
    "TelebillDailyDispatchMissing": "telebill-daily-dispatch",
    "TelebillMonthlySettlementMissing": "telebill-monthly-settlement",
}


@dataclass
class Entry:
    alert: str
    look: list[tuple[str, ...]]  # `telebill …` commands run while it fires
    do: str  # what the runbook says to do, as done here
    fired: float | None = None
    cleared: float | None = None
    said: list[str] = field(default_factory=list)  # each look's first line


def entries() -> list[Entry]:
    lag = ("lag",)
    return [
        Entry(a, [lag], f"telebill consume {r.split('-')[1]} (here: its role started again)")
        for a, r in STOPPED.items()
        if r.startswith("consumer-")
    ] + [
        Entry(
            "TelebillWorkerDown",
            [("schedules", "status")],
            "telebill worker --queues notification (here: its role started again)",
        ),
        *(Entry(a, [("schedules", "status")], "telebill schedules install") for a in SCHEDULES),
        Entry("TelebillDeadLettersRising", [("dlq", "list")], "telebill dlq replay --all"),
    ]


def first_row(out: str) -> str:
    """What a command printed first: a table's first row, else its first line."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    rows = [line for line in lines if line.startswith("│")]
    first = rows[0] if rows else (lines[0] if lines else "")
    return " ".join(first.replace("│", " ").split())


def episodes(t: Timeline, alert: str) -> list[Seen]:
    return [s for s in t.alerts.values() if s.name == alert]


async def firing(t: Timeline, alert: str, within: float) -> float:
    """When the alert fired (an episode firing and not cleared), waited for `within` s."""

    async def fired() -> bool:
        return any(s.firing is not None and s.cleared is None for s in episodes(t, alert))

    await until(fired, f"{alert} firing", within, t)
    return min(s.firing for s in episodes(t, alert) if s.firing is not None and s.cleared is None)


async def cleared(t: Timeline, alert: str, within: float) -> float | None:
    """When every episode of the alert had cleared; None if not within `within` s."""

    async def gone() -> bool:
        seen = episodes(t, alert)
        return bool(seen) and all(s.cleared is not None for s in seen)

    try:
        await until(gone, f"{alert} cleared", within, t)
    except SystemExit:
        return None
    return max(s.cleared for s in episodes(t, alert) if s.cleared is not None)


async def cause(staging: Staging, s: Settings, t: Timeline) -> None:
    for role in STOPPED.values():
        staging.kill(role, signal.SIGTERM)
    t.say(f"stopped: {', '.join(STOPPED.values())}")
    client = await connect_client(s)
    for schedule in SCHEDULES.values():
        await client.get_schedule_handle(schedule).delete()
    t.say(f"deleted the Schedules {', '.join(SCHEDULES.values())}")
    producer = AIOKafkaProducer(**kafka_client_kwargs(s))
    await producer.start()
    try:
        await producer.send_and_wait(Topics(s.topic_prefix).channel("email"), b"not an event")
    finally:
        await producer.stop()
    t.say("published a malformed event to the e-mail topic")


async def rehearse(staging: Staging, e: Entry, t: Timeline, restart: asyncio.Lock) -> None:
    e.fired = await firing(t, e.alert, 900)
    for argv in e.look:
        out = await asyncio.to_thread(staging.telebill, *argv, what=f"telebill {argv[0]}")
        e.said.append(first_row(out))
    if e.alert in STOPPED:
        async with restart:  # its role alone: `up` would start the others and the Schedules
            await staging.start_role(staging.role(STOPPED[e.alert]))
    else:
        await asyncio.to_thread(staging.telebill, *e.do.split()[1:], what=e.do)
    t.say(f"{e.alert}: {e.do}")
    e.cleared = await cleared(t, e.alert, 1200)


async def main() -> None:
    base = Settings()
    staging = Staging(layout.folder(base.stack_dir), base.stack_dir)
    if any(not r.healthy for r in await staging.status()):
        raise SystemExit("the staging installation is not all up: `make staging` first")
    s = staging_settings(staging)
    t = Timeline()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_alerts(t, stop))
    book = entries()
    try:
        await asyncio.to_thread(
            staging.telebill, "schedules", "install", what="telebill schedules install"
        )
        t.say("from a quiet installation: waiting for no alert to be pending or firing")
        if not await t.cleared(600):
            raise SystemExit("alerts were still open after 10 minutes: look at them first")
        await cause(staging, s, t)
        restart = asyncio.Lock()
        await asyncio.gather(*(rehearse(staging, e, t, restart) for e in book))
    finally:
        stop.set()
        await watcher
    print("\nthe runbook on the staging installation (run seconds)")
    for e in book:
        gone = "-" if e.cleared is None else f"{e.cleared:,.0f} s"
        print(f"  {e.alert:<34} fired {e.fired or 0:,.0f} s, cleared {gone}; did: {e.do}")
        for argv, first in zip(e.look, e.said, strict=True):
            print(f"    telebill {' '.join(argv)}: {first.strip()[:90]}")
    if any(e.cleared is None for e in book):
        raise SystemExit("an alert did not clear after its runbook step")


if __name__ == "__main__":
    asyncio.run(main())
