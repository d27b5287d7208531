"""What the notification commands share: member and JSON options, instants as typed, the
dispatch they start, and signalling many waiting workflows at once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starters.common import console, temporal_client
from starters.errors import UserError
from telebill import clock
from telebill.config import get_settings

if TYPE_CHECKING:
    from telebill.db.notify_store import Waiting


def parse_instant(text: str) -> datetime:
    """An ISO date-time; without an offset it is read in the system time zone."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--at must be an ISO date-time like 2026-12-05T10:00, got {text!r}"
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=ZoneInfo(get_settings().system_time_zone))
    return at


async def start_dispatch(
    month: str, members: list[int] | None, reserved_at: datetime | None, wait: bool, tag: str
) -> None:
    from temporalio.common import WorkflowIDConflictPolicy

    from workflows.notification import DispatchInput, DispatchWorkflow

    settings = get_settings()
    client = await temporal_client(settings)
    stamp = clock.now(settings).strftime("%Y%m%dT%H%M%S")
    handle = await client.start_workflow(
        DispatchWorkflow.run,
        DispatchInput(
            month=month,
            members=members,
            reserved_at=reserved_at.isoformat() if reserved_at else None,
            time_zone=settings.schedule_time_zone,
        ),
        id=f"dispatch-{month}-{tag}-{stamp}",
        task_queue=settings.dispatch_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    console.print(f"dispatch {handle.id} started", highlight=False)
    if wait:
        result = await handle.result()
        console.print(
            f"{result.started:,} notification workflow(s) started or signalled for {result.month}",
            highlight=False,
        )


async def signal_all(waiting: Sequence[Waiting], signal: str, arg: Any) -> int:
    """Tell waiting notification workflows (Signal-With-Start: one whose delayed start has not
    come yet wakes to re-plan); how many were told."""
    from activities.notify_starts import tell_waiting

    if not waiting:
        return 0
    settings = get_settings()
    client = await temporal_client(settings)
    return await tell_waiting(client, settings, waiting, signal, arg)
