"""Temporal in memory: the gateway's methods the service layer calls (telebill/service/ports.py's
`Temporal`), recording what was started and told; `down` makes every call fail as an
unreachable server does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from telebill.contracts.dispatch import DispatchInput, DispatchResult
from telebill.contracts.notification import NotifyInput
from telebill.contracts.settlement import SettlementInput, SettlementProgress, SettlementSummary
from telebill.db.notify_store import Waiting
from telebill.notify_search import StuckWorkflow
from telebill.temporal_gateway import Started

if TYPE_CHECKING:
    from temporalio.client import Schedule, ScheduleDescription


class TemporalDown(RuntimeError):
    """What a call to a Temporal that does not answer raises here."""


@dataclass
class FakeTemporal:
    down: bool = False
    # what was asked of it, in order
    told: list[tuple[str, str, object]] = field(default_factory=list)  # workflow id, signal, arg
    resends: dict[str, tuple[NotifyInput, dict[str, str]]] = field(default_factory=dict)
    dispatches: dict[str, DispatchInput] = field(default_factory=dict)
    settlements: dict[str, SettlementInput] = field(default_factory=dict)
    # what it answers
    schedules: dict[str, bool] = field(default_factory=dict)  # id → paused
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # month → NotifyStatus counts
    stuck: list[StuckWorkflow] = field(default_factory=list)
    polled: bool = True

    def _up(self) -> None:
        if self.down:
            raise TemporalDown("Temporal at 127.0.0.1:1 does not answer (fake)")

    async def tell_waiting(self, waiting: Sequence[Waiting], signal: str, arg: object) -> int:
        self._up()
        for w in waiting:
            self.told.append((w.workflow_id or f"planned-{w.bill_id}", signal, arg))
        return len(waiting)

    async def start_resend(
        self, params: NotifyInput, workflow_id: str, memo: dict[str, str]
    ) -> tuple[str, str | None]:
        """The same id again joins the first: its memo answers."""
        self._up()
        self.resends.setdefault(workflow_id, (params, memo))
        key = next(iter(memo))
        return workflow_id, self.resends[workflow_id][1].get(key)

    async def start_dispatch(self, inp: DispatchInput, workflow_id: str) -> str:
        self._up()
        self.dispatches.setdefault(workflow_id, inp)
        return workflow_id

    async def dispatch_result(self, workflow_id: str) -> DispatchResult:
        self._up()
        return DispatchResult(month=self.dispatches[workflow_id].month or "", started=0)

    async def start_settlement(self, inp: SettlementInput) -> Started:
        self._up()
        workflow_id = f"settle-{inp.month}"
        self.settlements[workflow_id] = inp
        return Started(workflow_id=workflow_id, run_id="run-1")

    async def settlement_polled(self) -> bool:
        self._up()
        return self.polled

    async def settlement_progress(self, workflow_id: str) -> SettlementProgress:
        self._up()
        raise TemporalDown("no worker has picked it up (fake)")

    async def settlement_result(self, workflow_id: str) -> SettlementSummary:
        self._up()
        raise TemporalDown("not finished (fake)")

    async def upsert_schedule(self, schedule_id: str, schedule: Schedule) -> str:
        self._up()
        created = schedule_id not in self.schedules
        self.schedules[schedule_id] = False
        return "created" if created else "updated"

    async def describe_schedule(self, schedule_id: str) -> ScheduleDescription | None:
        """What the service reads of a description: `.schedule.state.paused`."""
        self._up()
        if schedule_id not in self.schedules:
            return None
        state = SimpleNamespace(paused=self.schedules[schedule_id])
        return cast("ScheduleDescription", SimpleNamespace(schedule=SimpleNamespace(state=state)))

    async def workflow_outcome(self, workflow_id: str, run_id: str | None) -> str:
        self._up()
        return "COMPLETED"

    async def notify_status_counts(self, month: str) -> dict[str, int]:
        self._up()
        return dict(self.counts.get(month, {}))

    async def stuck_page(
        self, month: str, size: int, token: bytes | None
    ) -> tuple[list[StuckWorkflow], bytes | None]:
        self._up()
        start = int(token or b"0")
        following = start + size if start + size < len(self.stuck) else None
        return self.stuck[start : start + size], str(following).encode() if following else None
