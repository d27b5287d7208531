"""A month as the operator sees it: its notifications in PostgreSQL and Temporal, the STUCK
bills, and its settlement (started, followed, reported)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from telebill import clock
from telebill.contracts.schedules import DISPATCH_SCHEDULE_ID
from telebill.contracts.settlement import SettlementInput, SettlementProgress, SettlementSummary
from telebill.db.month_views import MonthStatus
from telebill.db.notify_store import last_errors
from telebill.domain.month import parse_month, previous_month
from telebill.errors import TelebillError, Unavailable
from telebill.notify_search import workflow_link
from telebill.service.notify import checked_month
from telebill.service.schedules import daily_dispatch_running

if TYPE_CHECKING:
    from telebill.amount_figures import AmountFigures
    from telebill.service.deps import Deps
    from telebill.settlement_report import MonthReport


@dataclass(frozen=True)
class MonthView:
    db: MonthStatus
    temporal: dict[str, int] | None  # NotifyStatus counts; None when Temporal did not answer
    daily_dispatch: bool | None  # its Schedule installed and running; None: Temporal silent

    @property
    def warnings(self) -> list[str]:
        """What the operator must act on for this month's bills to go out."""
        if self.db.workflow_later and self.daily_dispatch is False:
            return [
                f"{self.db.workflow_later:,} bill(s) are planned for later days and the daily "
                f"dispatch Schedule ({DISPATCH_SCHEDULE_ID}) is not running, so their workflows "
                "will not be started: run `telebill schedules install` (or unpause it)"
            ]
        return []

    def as_dict(self) -> dict[str, Any]:
        """What `status --json` prints and the API's month status returns."""
        return {
            "postgresql": asdict(self.db),
            "temporal": self.temporal,
            "daily_dispatch": self.daily_dispatch,
            "warnings": self.warnings,
        }


async def db_status(deps: Deps, month: str) -> MonthStatus:
    async with deps.db() as conn:
        return await deps.stores.month_views.month_status(
            conn, parse_month(checked_month(month)), clock.now(deps.settings)
        )


async def status(deps: Deps, month: str) -> MonthView:
    """Settled, scheduled, published, delivered by channel, dead letters (PostgreSQL), next to
    the workflows' NotifyStatus counts (Temporal, when it answers)."""
    month = checked_month(month)
    db = await db_status(deps, month)
    try:
        temporal = await deps.gateway()
    except Unavailable:
        return MonthView(db, None, None)
    counts = await temporal.notify_status_counts(month)
    return MonthView(db, counts, await daily_dispatch_running(temporal))


@dataclass(frozen=True)
class StuckBill:
    workflow_id: str
    member: int
    last_error: str | None
    link: str | None  # the workflow in Temporal UI


MAX_STUCK_PAGE = 500


@dataclass(frozen=True)
class StuckPage:
    bills: list[StuckBill]
    next_page: str | None  # give it back as `page` for the next (None: this is the last)


async def stuck(deps: Deps, month: str, size: int = 100, page: str | None = None) -> StuckPage:
    """One page (at most 500) of the bills whose notification is STUCK (no outcome in time),
    with their last error; `page` is the `next_page` of the one before."""
    # lazy: the Temporal SDK (0.3 s at a CLI command's start; see Deps.gateway)
    from temporalio.service import RPCError, RPCStatusCode

    month = checked_month(month)
    refused = TelebillError("page: not a page this list gave")
    try:
        token = base64.b64decode(page.encode(), altchars=b"-_", validate=True) if page else None
    except (binascii.Error, ValueError):
        raise refused from None
    try:
        found, following = await (await deps.gateway()).stuck_page(
            month, max(1, min(size, MAX_STUCK_PAGE)), token
        )
    except RPCError as exc:
        # a token Temporal did not give (the dev server answers UNKNOWN to one made up)
        if token and exc.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.UNKNOWN):
            raise refused from None
        raise
    async with deps.db() as conn:
        errors = await last_errors(conn, parse_month(month), [s.member_id for s in found])
    bills = [
        StuckBill(
            s.workflow_id,
            s.member_id,
            errors.get(s.member_id),
            workflow_link(deps.settings, s.workflow_id),
        )
        for s in found
    ]
    nxt = base64.urlsafe_b64encode(following).decode() if following else None
    return StuckPage(bills, nxt)


@dataclass(frozen=True)
class SettlementStarted:
    workflow_id: str
    run_id: str | None
    link: str | None
    worker_polling: bool  # False: it waits until a `telebill worker` starts


async def start_settlement(
    deps: Deps,
    month: str,
    shard_size: int | None = None,
    chunk_size: int | None = None,
    parallel: int | None = None,
    notify: bool = True,
) -> SettlementStarted:
    """Settle a month (one per installation: starting it while it runs joins the running one;
    after it finished, only members still without a bill are settled)."""
    month = checked_month(month)
    for name, value in (
        ("shard size", shard_size),
        ("chunk size", chunk_size),
        ("parallel", parallel),
    ):
        if value is not None and value < 1:
            raise TelebillError(f"{name} must be at least 1, got {value}")
    s = deps.settings
    temporal = await deps.gateway()
    started = await temporal.start_settlement(
        SettlementInput(
            month=month,
            shard_size=shard_size or s.settle_shard_size,
            chunk_size=chunk_size or s.settle_chunk_size,
            parallel=parallel or s.settle_parallel,
            heartbeat_timeout_s=s.settle_heartbeat_timeout_s,
            notify=notify,
            dispatch_queue=s.dispatch_task_queue,
        )
    )
    return SettlementStarted(
        started.workflow_id,
        started.run_id,
        workflow_link(s, started.workflow_id),
        await temporal.settlement_polled(),
    )


async def settlement_progress(deps: Deps, workflow_id: str) -> SettlementProgress | None:
    """Where a running settlement is; None while it cannot answer (no worker yet)."""
    temporal = await deps.gateway()
    try:
        return await temporal.settlement_progress(workflow_id)
    except Exception:  # not picked up by a worker yet, or between runs: no figures this time
        return None


async def settlement_result(deps: Deps, workflow_id: str) -> SettlementSummary:
    return await (await deps.gateway()).settlement_result(workflow_id)


async def settlement_report(deps: Deps, month: str) -> tuple[MonthReport, AmountFigures | None]:
    """The settlement's record and the spread of its amounts due."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.amount_figures import read_amount_figures

    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.settlement_report import read_report

    m = parse_month(checked_month(month))
    async with deps.db() as conn:
        return await read_report(conn, m), await read_amount_figures(conn, m)


async def latest_month(deps: Deps) -> str:
    """The month an operator most likely wants: the last settled, else the one before today."""
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.settlement_report import latest_settled

    async with deps.db() as conn:
        found = await latest_settled(conn)
    s = deps.settings
    return found or previous_month(clock.now(s), s.schedule_time_zone)


async def every_stuck(deps: Deps, month: str) -> list[StuckBill]:
    """All of them, a page at a time (the CLI's list)."""
    found = await stuck(deps, month, MAX_STUCK_PAGE)
    bills = list(found.bills)
    while found.next_page:
        found = await stuck(deps, month, MAX_STUCK_PAGE, found.next_page)
        bills += found.bills
    return bills
