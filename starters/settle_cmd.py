"""`telebill settle`, `telebill report`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from starters.common import Month, checked_month, console, progress_bar, temporal_client, using_db
from starters.errors import UserError
from telebill.config import Settings, get_settings
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

    from telebill.amount_figures import AmountFigures
    from telebill.settlement_report import MonthReport


async def _warn_without_worker(client: Client, settings: Settings) -> None:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.settlement_task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    if not described.pollers:
        console.print(
            f"[yellow]no worker is polling task queue {settings.settlement_task_queue!r}: the "
            "settlement "
            "waits until one starts (`telebill worker`)[/]",
            highlight=False,
        )


async def _settle(
    month: str,
    wait: bool,
    shard_size: int | None,
    chunk_size: int | None,
    parallel: int | None,
    with_worker: bool = False,
    notify: bool = True,
) -> None:
    if not with_worker:
        await _start_and_follow(month, wait, shard_size, chunk_size, parallel, notify=notify)
        return
    from telebill.queues import WorkQueue
    from workers.temporal_worker import build_worker, create_pool

    settings = get_settings()
    client = await temporal_client(settings)
    pool = await create_pool(settings)
    try:
        # The settlement's work only: its dispatch and the notifications are the workers' job.
        async with build_worker(client, pool, settings, queues=[WorkQueue.SETTLEMENT]):
            await _start_and_follow(
                month, True, shard_size, chunk_size, parallel, own_worker=True, notify=notify
            )
    finally:
        await pool.close()


async def _start_and_follow(
    month: str,
    wait: bool,
    shard_size: int | None,
    chunk_size: int | None,
    parallel: int | None,
    own_worker: bool = False,
    notify: bool = True,
) -> None:
    from temporalio.common import WorkflowIDConflictPolicy

    from workflows.settlement import MonthlySettlementWorkflow, SettlementInput, settlement_id

    settings = get_settings()
    client = await temporal_client(settings)
    params = SettlementInput(
        month=month,
        shard_size=shard_size or settings.settle_shard_size,
        chunk_size=chunk_size or settings.settle_chunk_size,
        parallel=parallel or settings.settle_parallel,
        heartbeat_timeout_s=settings.settle_heartbeat_timeout_s,
        notify=notify,
        dispatch_queue=settings.dispatch_task_queue,
    )
    handle = await client.start_workflow(
        MonthlySettlementWorkflow.run,
        params,
        id=f"{settings.workflow_id_prefix}{settlement_id(month)}",  # one per installation
        task_queue=settings.settlement_task_queue,
        # A settlement of this month already running is joined, not started a second time.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    if not own_worker:
        await _warn_without_worker(client, settings)
    ui = settings.temporal_ui_url
    where = f" — {ui}/namespaces/{settings.temporal_namespace}/workflows/{handle.id}" if ui else ""
    console.print(f"settlement {handle.id} (run {handle.result_run_id}){where}", highlight=False)
    if not wait:
        console.print(f"follow it with `telebill settle --month {month} --wait`", highlight=False)
        return
    progress = progress_bar()
    task = progress.add_task(f"settling {month}", total=None)
    with progress:
        result = asyncio.ensure_future(handle.result())
        while not result.done():
            try:
                p = await handle.query(MonthlySettlementWorkflow.progress)
                progress.update(
                    task,
                    total=p.members or None,
                    completed=p.members_done,
                    description=f"settling {month} ({p.phase}, shards "
                    f"{p.shards_done}/{p.shards_total})",
                )
            except Exception:
                pass
            await asyncio.wait({result}, timeout=1.0)
        summary = result.result()
        progress.update(
            task,
            total=summary.members or 1,
            completed=summary.members or 1,
            description=f"settled {month}",
        )
    if summary.nothing_left:
        console.print(f"nothing was left to do: all {summary.bills:,} bills of {month} existed")
    else:
        console.print(
            f"created {summary.bills_created:,} bills and {summary.items_created:,} items"
        )
    await _report(month, as_json=False)


def settle(
    month: Month,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Show progress until it ends.")
    ] = False,
    shard_size: Annotated[
        int | None, typer.Option(help="Members per shard workflow.", min=1)
    ] = None,
    chunk_size: Annotated[int | None, typer.Option(help="Members per transaction.", min=1)] = None,
    parallel: Annotated[int | None, typer.Option(help="Shards settling at once.", min=1)] = None,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker",
            help="Also run a worker in this process until it ends (implies --wait).",
        ),
    ] = False,
    notify: Annotated[
        bool,
        typer.Option(
            "--notify/--no-notify",
            help="Then start the bills' notification workflows (after the month is reported).",
        ),
    ] = True,
) -> None:
    """Settle a month: one bill per member with its items (workflow settlement-YYYY-MM).

    Starting it while it runs joins the running one; starting it again after it finished settles
    only members still without a bill (normally none). Needs a running `telebill worker`, or
    --with-worker.
    """
    asyncio.run(
        _settle(checked_month(month), wait, shard_size, chunk_size, parallel, with_worker, notify)
    )


async def _read_report(month: str) -> tuple[MonthReport, AmountFigures | None]:
    """The settlement record and the spread of its amounts, over one connection."""
    from telebill.amount_figures import read_amount_figures
    from telebill.settlement_report import read_report

    async def both(conn: asyncpg.Connection) -> tuple[MonthReport, AmountFigures | None]:
        m = parse_month(month)
        return await read_report(conn, m), await read_amount_figures(conn, m)

    return await using_db(both)


async def _report(month: str, as_json: bool) -> None:
    from telebill.amount_figures import HIGH_BILL
    from telebill.settlement_report import KIND_LABELS

    r, spread = await _read_report(month)
    if as_json:
        out = r.as_dict() | {"amounts": spread.as_dict() if spread else None}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return
    head = Table(title=f"Settlement {r.month} ({r.status}, run {r.runs})", show_header=False)
    head.add_column(justify="left")
    head.add_column(justify="right")
    took = f"{(r.finished_at - r.started_at).total_seconds():,.1f} s" if r.finished_at else "-"
    for label, value in (
        ("members", f"{r.members:,}"),
        ("bills", f"{r.bills:,}"),
        ("bill items", f"{r.items:,} ({r.items_per_bill:.2f} per bill)"),
        ("members refused (bad data)", f"{r.errors:,}"),
        ("created by the last run", f"{r.last_run_bills:,} bills, {r.last_run_items:,} items"),
        ("last run took", took),
        ("amount due", f"{r.amount_due:,}원"),
    ):
        head.add_row(label, value)
    console.print(head)
    lines = Table("line", "kind", "total", title="Totals per line kind")
    lines.columns[2].justify = "right"
    for kind, label in KIND_LABELS.items():
        if kind in r.totals:
            lines.add_row(label, str(kind), f"{r.totals[kind]:,}원")
    console.print(lines)
    if spread is None:
        return
    amounts = Table(show_header=False, title="Amounts due (청구 금액 분포)")
    amounts.add_column(justify="left")
    amounts.add_column(justify="right")
    for label, value in (
        ("mean / median", f"{spread.mean:,}원 / {spread.median:,}원"),
        ("90th / 99th percentile", f"{spread.p90:,}원 / {spread.p99:,}원"),
        ("largest", f"{spread.largest:,}원"),
        (
            "99th percentile, largest without devices and micro-payments",
            f"{spread.p99_without_device_and_micro:,}원 / "
            f"{spread.largest_without_device_and_micro:,}원",
        ),
        (f"above {HIGH_BILL:,}원 without them", f"{spread.high_without_explanation:,} bills"),
        ("pro-rated lines (일할 계산)", f"{spread.prorated_lines:,}"),
        ("plans slowed down after their allowance", f"{spread.throttled_plans:,}"),
        ("data overage capped or waived by an add-on", f"{spread.capped_overages:,}"),
    ):
        amounts.add_row(label, value)
    console.print(amounts)


def report(
    month: Month,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write the month's report as one self-contained HTML page instead: settlement, "
            "deliveries by hour and channel, the outcome funnel, dead letters, what is open "
            "(charts inline, nothing fetched when opened; prints to A4).",
        ),
    ] = None,
) -> None:
    """Print a settled month's totals: bills, items, errors, amounts per line kind, and how the
    amounts due are spread (percentiles, pro-rated, throttled and capped lines)."""
    month = checked_month(month)
    if html is None:
        asyncio.run(_report(month, as_json))
        return
    from telebill import clock
    from telebill.month_report.build import write_report

    settings = get_settings()
    try:
        written = asyncio.run(write_report(settings, month, html, clock.now(settings)))
    except OSError as exc:  # the file could not be written: say where and why, in one line
        raise UserError(f"cannot write {html}: {exc.strerror or exc}") from None
    console.print(f"report of {month}: {written}", highlight=False, soft_wrap=True)
