"""`telebill seed`: a deterministic synthetic population and one month of its usage."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from starters.common import console, progress_bar
from starters.errors import UserError
from telebill.config import get_settings
from telebill.domain.month import parse_month

if TYPE_CHECKING:
    from telebill.seed.generate import ChunkRows
    from telebill.seed.load import SeedPlan, SeedReport


async def _seed(members: int, month_text: str, seed: int | None, workers: int | None) -> SeedReport:
    # lazy: Alembic and SQLAlchemy, ~0.4 s of a command's start
    from telebill.db.migrate import connect_ready

    # lazy: Faker and multiprocessing, ~60 ms of a command's start
    from telebill.seed.load import seed_population

    month = parse_month(month_text)
    settings = get_settings()
    conn = await connect_ready(settings.db_url)
    progress = progress_bar()
    task = progress.add_task("seeding members", total=None)

    def on_plan(plan: SeedPlan) -> None:
        if plan.members_to_add or plan.usage_to_add:
            progress.update(task, total=plan.target - plan.first_chunk_start + 1)
            progress.start()

    def on_chunk(rows: ChunkRows) -> None:
        progress.advance(task, rows.end_id - rows.start_id + 1)

    try:
        return await seed_population(conn, members, month, seed, on_plan, on_chunk, workers)
    finally:
        progress.stop()
        await conn.close()


def command(
    members: Annotated[
        int, typer.Option("--members", "-n", help="Members 1..N must exist (more are kept).")
    ],
    month: Annotated[
        str, typer.Option("--month", "-m", help="Billing month of the usage to create, YYYY-MM.")
    ],
    seed: Annotated[
        int | None,
        typer.Option(
            help="Random seed (default 42). Fixed once members exist: adding to them needs the "
            "same seed, and without --seed the stored one is used."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Generator processes (default: cores - 1, at least 1).", min=1),
    ] = None,
) -> None:
    """Seed members, their subscriptions and one month of usage, deterministically.

    Bulk-loaded with COPY in chunks of 10,000 members (one transaction each). Running it again
    adds only what is missing: members beyond those that exist, and usage of the month for
    members that have none yet.
    """
    if members <= 0:
        raise UserError(f"--members must be at least 1, got {members}")
    try:
        parse_month(month)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    report = asyncio.run(_seed(members, month, seed, workers))
    plan = report.plan
    kept_members = min(plan.members_existing, plan.target)
    kept_usage = min(plan.usage_existing, plan.target)
    console.print(
        f"members: {kept_members:,} already existed, {report.members_added:,} added "
        f"({report.subscriptions_added:,} subscriptions); usage {month}: {kept_usage:,} members "
        f"already had it, {report.usage_members_added:,} added ({report.usage_rows_added:,} rows); "
        f"seed {plan.seed}",
        highlight=False,
    )
    if report.rows_added:
        console.print(
            f"{report.rows_added:,} rows in {report.seconds:.1f} s "
            f"({report.rows_per_second:,.0f} rows/s)",
            highlight=False,
        )
