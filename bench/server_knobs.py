"""The dev server's free settings, measured: each variant on a fresh dev server of its own
(other ports, its database in a temporary folder), the same workload, in rounds that alternate
the order.

    python -m bench.server_knobs --starts 2000 --workflows 600 --rounds 2

Workload: bare delayed starts with the four search attributes (starts/s: what scheduling a
month costs), then one-activity workflows started delayed to one instant (completed/s: what a
send day costs). The variants add to the stack's own settings (`DEV_SERVER_TUNING`).
"""

from __future__ import annotations

import asyncio

from bench.knobs import Rates, arguments, report, workload
from bench.knobs import rounds as run_rounds
from bench.month_probes import fresh_dev_server
from telebill.config import get_settings

PORT = 57433  # beside the stack's 57233, below the ephemeral range
VARIANTS: dict[str, list[str]] = {
    "today (WAL)": [],
    "synchronous=NORMAL": ["--sqlite-pragma", "synchronous=NORMAL"],
    "no SA cache refresh on read": [
        "--dynamic-config-value",
        "system.forceSearchAttributesCacheRefreshOnRead=false",
    ],
    "history.shardIOConcurrency=4": ["--dynamic-config-value", "history.shardIOConcurrency=4"],
}


async def one_variant(extra: list[str], starts: int, workflows: int) -> Rates:
    async with fresh_dev_server(PORT, extra) as (client, _pid, _folder):
        return await workload(client, get_settings(), starts, workflows)


async def main(starts: int, workflows: int, rounds_n: int) -> None:
    results = await run_rounds(
        list(VARIANTS), rounds_n, lambda name: one_variant(VARIANTS[name], starts, workflows)
    )
    report("server_knobs", results, starts, workflows)


if __name__ == "__main__":
    parser = arguments(__doc__)
    asyncio.run(main(**vars(parser.parse_args())))
