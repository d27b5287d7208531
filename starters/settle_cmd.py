"""`telebill settle`, `telebill report`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from starters.common import Month, call, checked_month, console, progress_bar
from starters.errors import UserError
from telebill import clock
from telebill.config import get_settings
from telebill.queues import WorkQueue
from telebill.service import month as service
from telebill.service.bootstrap import worker_pool

if TYPE_CHECKING:
    from telebill.service.deps import Deps


async def _settle(
    deps: Deps,
    month: str,
    wait: bool,
    sizes: tuple[int | None, int | None, int | None],
    with_worker: bool = False,
    notify: bool = True,
) -> None:
    if not with_worker:
        await _start_and_follow(deps, month, wait, sizes, notify=notify)
        return
    # lazy: the Temporal worker (temporalio), ~0.4 s of a command's start
    from workers.temporal_worker import build_worker

    async with worker_pool(deps.settings) as pool:
        # The settlement's work only: its dispatch and the notifications are the workers' job.
        client = await deps.temporal()
        async with build_worker(client, pool, deps.settings, queues=[WorkQueue.SETTLEMENT]):
            await _start_and_follow(deps, month, True, sizes, own_worker=True, notify=notify)


async def _start_and_follow(
    deps: Deps,
    month: str,
    wait: bool,
    sizes: tuple[int | None, int | None, int | None],
    own_worker: bool = False,
    notify: bool = True,
) -> None:
    started = await service.start_settlement(deps, month, *sizes, notify=notify)
    if not own_worker and not started.worker_polling:
        console.print(
            f"[yellow]no worker is polling task queue {deps.settings.settlement_task_queue!r}: "
            "the settlement waits until one starts (`telebill worker`)[/]",
            highlight=False,
        )
    where = f" — {started.link}" if started.link else ""
    console.print(
        f"settlement {started.workflow_id} (run {started.run_id}){where}", highlight=False
    )
    if not wait:
        console.print(f"follow it with `telebill settle --month {month} --wait`", highlight=False)
        return
    progress = progress_bar()
    task = progress.add_task(f"settling {month}", total=None)
    with progress:
        result = asyncio.ensure_future(service.settlement_result(deps, started.workflow_id))
        while not result.done():
            p = await service.settlement_progress(deps, started.workflow_id)
            if p is not None:
                progress.update(
                    task,
                    total=p.members or None,
                    completed=p.members_done,
                    description=f"settling {month} ({p.phase}, shards "
                    f"{p.shards_done}/{p.shards_total})",
                )
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
    await _report(deps, month, as_json=False)


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
    month = checked_month(month)
    sizes = (shard_size, chunk_size, parallel)
    call(lambda deps: _settle(deps, month, wait, sizes, with_worker, notify))


async def _report(deps: Deps, month: str, as_json: bool) -> None:
    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.amount_figures import HIGH_BILL

    # lazy: the pricing chain (domain.pricing, db.settlement_store), ~20 ms of a command's start
    from telebill.settlement_report import KIND_LABELS

    r, spread = await service.settlement_report(deps, month)
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
        call(lambda deps: _report(deps, month, as_json))
        return
    # lazy: matplotlib, SQLAlchemy and Alembic, ~1.5 s of a command's start
    from telebill.month_report.build import write_report

    settings = get_settings()
    try:
        written = asyncio.run(write_report(settings, month, html, clock.now(settings)))
    except OSError as exc:  # the file could not be written: say where and why, in one line
        raise UserError(f"cannot write {html}: {exc.strerror or exc}") from None
    console.print(f"report of {month}: {written}", highlight=False, soft_wrap=True)
