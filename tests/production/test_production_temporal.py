"""The production Temporal server (`TELEBILL_TEMPORAL_SERVER=production`), built from the Go
module proxy and run on the stack's PostgreSQL: it comes up, and every Temporal UI query the
docs/operations.md documents answers on its PostgreSQL visibility store as on the dev server.

Not in `make test` (the first build takes minutes): `make test-production-temporal`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client

from telebill.config import Settings
from telebill.contracts.notification import NotifyInput
from telebill.contracts.search_attributes import NOTIFY_STATUS
from telebill.stack.temporal_server import TemporalServer
from telebill.temporal_gateway import initial_search_attributes

pytestmark = [pytest.mark.production, pytest.mark.integration, pytest.mark.slow]
PORT = 27233  # its ports run to +706: all below the kernel's ephemeral range


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Client]:
    settings = Settings(temporal_server="production", temporal_port=PORT)
    service = TemporalServer(settings)
    said = await service.up()
    print(said)
    try:
        yield await Client.connect(settings.temporal_target, namespace=settings.temporal_namespace)
    finally:
        print(service.down())


async def test_the_documented_ui_queries_answer_on_postgresql_visibility(server: Client) -> None:
    client = server
    tag = datetime.now(UTC).strftime("%H%M%S%f")
    month = f"2031-07-{tag}"  # a keyword of this run's own, whatever earlier runs left
    send_at = datetime(2031, 8, 10, 1, 0, tzinfo=UTC)
    for member in (41, 42, 43):
        await client.start_workflow(
            "BillNotificationWorkflow",
            NotifyInput(bill_id=member, member_id=member, month=month, version=4),
            id=f"prod-{tag}-notify-{month}-{member}",
            task_queue=f"prod-{tag}",
            start_delay=timedelta(days=30),  # asleep; no worker needed
            search_attributes=initial_search_attributes(
                month, member, send_at + timedelta(days=member - 42)
            ),
        )
    queries = {
        f'BillingMonth="{month}"': 3,
        f'BillingMonth="{month}" AND NotifyStatus="SCHEDULED"': 3,
        f'BillingMonth="{month}" AND MemberId=42': 1,
        f'BillingMonth="{month}" AND SendAt < "2031-08-10T00:00:00Z"': 1,
        f'BillingMonth="{month}" AND NotifyStatus="STUCK"': 0,
        f"WorkflowId STARTS_WITH 'prod-{tag}-notify-' AND ExecutionStatus='Running'": 3,
    }
    for query, wanted in queries.items():
        for _ in range(40):  # visibility follows the starts with a small lag
            found = (await client.count_workflows(query)).count
            if found == wanted:
                break
            await asyncio.sleep(0.25)
        assert found == wanted, query
    described = await client.get_workflow_handle(f"prod-{tag}-notify-{month}-42").describe()
    assert described.typed_search_attributes.get(NOTIFY_STATUS) == "SCHEDULED"
