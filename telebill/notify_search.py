"""Temporal's view of a month's notification workflows: counts by NotifyStatus, the STUCK ones.

Read from the server's visibility store with the search attributes the workflows keep, so these
are the same queries an operator types into Temporal UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from telebill.channels import delivered_statuses
from telebill.config import Settings
from telebill.domain.statuses import NotifyStatus

if TYPE_CHECKING:
    from temporalio.client import Client


def notify_statuses() -> list[str]:
    """Every NotifyStatus value a workflow upserts, a delivered one for each channel of the
    registry: SCHEDULED, PUBLISHED, DELIVERED_EMAIL, DELIVERED_SMS, …, DEAD_LETTER, STUCK,
    NO_SEND_WINDOW."""
    return [
        NotifyStatus.SCHEDULED.value,
        NotifyStatus.PUBLISHED.value,
        *delivered_statuses(),
        NotifyStatus.DEAD_LETTER.value,
        NotifyStatus.STUCK.value,
        NotifyStatus.NO_SEND_WINDOW.value,
    ]


@dataclass(frozen=True)
class StuckWorkflow:
    workflow_id: str
    member_id: int


def month_query(settings: Settings, month: str) -> str:
    """This installation's notification workflows of a month (its task queue tells them apart)."""
    return f'BillingMonth="{month}" AND TaskQueue="{settings.task_queue}"'


def stuck_query(settings: Settings, month: str | None = None) -> str:
    """The STUCK workflows still running, of one month or of every month."""
    scope = month_query(settings, month) if month else f'TaskQueue="{settings.task_queue}"'
    return f'{scope} AND NotifyStatus="{NotifyStatus.STUCK}" AND ExecutionStatus="Running"'


async def stuck_count(client: Client, settings: Settings) -> int:
    return (await client.count_workflows(stuck_query(settings))).count


async def status_counts(client: Client, settings: Settings, month: str) -> dict[str, int]:
    counts = {}
    for status in notify_statuses():
        query = f'{month_query(settings, month)} AND NotifyStatus="{status}"'
        counts[status] = (await client.count_workflows(query)).count
    return counts


async def stuck_workflows(client: Client, settings: Settings, month: str) -> list[StuckWorkflow]:
    # lazy: the search attribute keys import the Temporal SDK (0.16 s), which the `telebill`
    # commands that import this module for its links and queries never need
    from telebill.contracts.search_attributes import MEMBER_ID

    found = []
    async for wf in client.list_workflows(stuck_query(settings, month)):
        found.append(StuckWorkflow(wf.id, int(wf.typed_search_attributes.get(MEMBER_ID) or 0)))
    return found


async def stuck_page(
    client: Client, settings: Settings, month: str, size: int, token: bytes | None
) -> tuple[list[StuckWorkflow], bytes | None]:
    """One page of `size` STUCK workflows from Temporal's visibility, and the token of the next
    (None on the last)."""
    from telebill.contracts.search_attributes import MEMBER_ID  # lazy: see stuck_workflows

    pages = client.list_workflows(
        stuck_query(settings, month), page_size=size, next_page_token=token
    )
    await pages.fetch_next_page()
    found = [
        StuckWorkflow(wf.id, int(wf.typed_search_attributes.get(MEMBER_ID) or 0))
        for wf in pages.current_page or []
    ]
    return found, pages.next_page_token


def workflow_link(settings: Settings, workflow_id: str) -> str | None:
    """The workflow's page in Temporal UI, when the installation has one."""
    ui = settings.temporal_ui_url
    if ui is None:
        return None
    return f"{ui}/namespaces/{settings.temporal_namespace}/workflows/{quote(workflow_id, safe='')}"


def query_link(settings: Settings, query: str) -> str | None:
    """Temporal UI's list of the workflows a visibility query finds."""
    ui = settings.temporal_ui_url
    if ui is None:
        return None
    return f"{ui}/namespaces/{settings.temporal_namespace}/workflows?query={quote(query, safe='')}"
