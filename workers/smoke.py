"""`telebill stack check`: one workflow whose activity round-trips PostgreSQL and Kafka, on a
worker of its own (so it lives with the workers, not in telebill/stack)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from temporalio.worker import Worker

from activities.smoke import SmokeInput, SmokeResult, smoke_round_trip
from telebill.config import Settings
from telebill.stack.process import StackError
from telebill.temporal_client import connect_client
from workflows.smoke import SmokeWorkflow


@dataclass(frozen=True)
class SmokeReport:
    token: str
    workflow_id: str
    result: SmokeResult
    seconds: float


async def run_smoke(settings: Settings) -> SmokeReport:
    token = uuid.uuid4().hex
    started = time.monotonic()
    client = await connect_client(settings)
    # A task queue of its own, so a running `telebill worker` never picks this workflow up.
    task_queue = f"telebill-smoke-{token}"
    workflow_id = f"smoke-{token}"
    async with Worker(
        client, task_queue=task_queue, workflows=[SmokeWorkflow], activities=[smoke_round_trip]
    ):
        result = await client.execute_workflow(
            SmokeWorkflow.run, SmokeInput(token), id=workflow_id, task_queue=task_queue
        )
    if result.postgres_echo != token:
        raise StackError(f"PostgreSQL returned {result.postgres_echo!r} instead of {token!r}")
    if result.kafka_echo != token:
        raise StackError(f"Kafka returned {result.kafka_echo!r} instead of {token!r}")
    return SmokeReport(token, workflow_id, result, time.monotonic() - started)
