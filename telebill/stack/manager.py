"""Brings the three services up together, stops them, and reports their state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from telebill.config import Settings
from telebill.stack import SERVICE_NAMES
from telebill.stack.kafka import Kafka
from telebill.stack.postgres import Postgres
from telebill.stack.process import StackError
from telebill.stack.service import Service, ServiceStatus
from telebill.stack.temporal import Temporal
from telebill.stack.temporal_server import TemporalServer


@dataclass(frozen=True)
class Outcome:
    service: str
    ok: bool
    message: str


def temporal_service(settings: Settings) -> Temporal:
    """The stack's Temporal server: the dev one or the production one, as settings choose."""
    if settings.temporal_server == "dev":
        return Temporal(settings)
    return TemporalServer(settings)


class Stack:
    def __init__(self, settings: Settings, only: Sequence[str] = ()) -> None:
        unknown = [n for n in only if n not in SERVICE_NAMES]
        if unknown:
            raise StackError(
                f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICE_NAMES)}"
            )
        every: list[Service] = [Postgres(settings), Kafka(settings), temporal_service(settings)]
        self.services = [s for s in every if not only or s.name in only]
        self.settings = settings

    async def up(self) -> list[Outcome]:
        """Start every service at once (their start-up is mostly waiting); one outcome each."""
        self.settings.stack_dir.mkdir(parents=True, exist_ok=True)

        async def one(service: Service) -> Outcome:
            try:
                return Outcome(service.name, True, await service.up())
            except StackError as exc:
                return Outcome(service.name, False, str(exc))

        return list(await asyncio.gather(*(one(s) for s in self.services)))

    def down(self, purge: bool = False) -> list[Outcome]:
        # Reverse order: Temporal and Kafka first, the database they may still write to last.
        return [Outcome(s.name, True, s.down(purge)) for s in reversed(self.services)]

    async def status(self) -> list[ServiceStatus]:
        return list(await asyncio.gather(*(s.status() for s in self.services)))
