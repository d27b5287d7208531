"""`telebill worker`: the Temporal worker process of a deployment."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from starters.errors import UserError
from telebill.config import get_settings
from telebill.queues import parse_queues

console = Console()


def worker(
    task_queue: Annotated[
        str | None,
        typer.Option(
            help="The notification task queue (default TELEBILL_TASK_QUEUE); the settlement "
            "and dispatch queues are named after it (<queue>-settlement, <queue>-dispatch)."
        ),
    ] = None,
    queues: Annotated[
        str,
        typer.Option(
            help="The work this process takes: settlement, dispatch, notification, comma "
            "separated (to split them across processes).",
        ),
    ] = "settlement,dispatch,notification",
) -> None:
    """Run a Temporal worker for the settlement, dispatch and notification workflows and their
    activities (Ctrl-C stops it), with slots of its own for each kind of work.

    Run several, here or on other machines, to share the work.
    """
    # lazy: the Temporal worker (temporalio), ~0.4 s of a command's start
    from workers.temporal_worker import run_worker

    try:
        chosen = parse_queues(queues)
    except ValueError as exc:
        raise UserError(f"--queues: {exc}") from None
    settings = get_settings()
    if task_queue:
        settings = settings.model_copy(update={"task_queue": task_queue})
    names = ", ".join(q.name_in(settings) for q in chosen)
    console.print(
        f"worker on task queues {names} at {settings.temporal_target} "
        f"(up to {settings.worker_max_activities} activities at once on each); Ctrl-C stops it",
        highlight=False,
    )
    asyncio.run(run_worker(settings, None, chosen))
