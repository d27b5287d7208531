"""The settlement's pricing pool (activities/settlement_pool.py) and what it runs
(telebill/db/settlement_copy.py): a chunk's COPY text is the golden one (checked by hand against
the rules: the plan, 선택약정, data overage, a pro-rated add-on, an instalment, micro-payments,
VAT and the truncation; tests/unit/golden/), whether priced in a pool process or on the event
loop; a member that cannot be priced is an error of its own; a killed pool process fails the
chunks in flight, the pool starts again once and the broken pool's other process ends; Ctrl-C
does not reach the pricing processes, and they do not outlive their worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.settlement_pool import WATCH_S, PricingPool
from telebill.db.settlement_copy import ChunkRows, _snapshot_json, price_chunk
from tests.helpers import eventually
from tests.unit.test_pricing import COLORING, GALAXY, LTE, SLIM

NOV = date(2026, 11, 1)
PRODUCTS = {p.id: p for p in (SLIM, LTE, COLORING, GALAXY)}
ROWS = ChunkRows(
    month=NOV,
    settlement_id="settlement-2026-11",
    members=[(1, None), (2, 50_000), (3, None), (4, None)],
    bill_ids=[101, 102, 103, 104],
    subscriptions=[
        (11, 1, SLIM.id, date(2024, 1, 1), None, True, None),
        (12, 1, COLORING.id, date(2026, 11, 10), None, False, None),
        (13, 1, GALAXY.id, date(2025, 6, 1), None, False, 24),
        (21, 2, LTE.id, date(2024, 1, 1), date(2026, 11, 15), False, None),
        (31, 3, 999, date(2024, 1, 1), None, False, None),  # not in the catalogue
        (41, 4, LTE.id, date(2024, 1, 1), None, False, None),
    ],
    usage=[
        (1, 11, 10_000, 4_000, 10, 12_000),
        (2, 21, 100, 0, 0, 60_000),  # over the member's micro-payment limit
        (4, 41, 0, 0, 0, 0),
    ],
)
GOLDEN = Path(__file__).parent / "golden"
BIG = ChunkRows(  # the same members many times over: a chunk that takes a while to price
    NOV,
    "settlement-2026-11",
    ROWS.members * 2_000,
    ROWS.bill_ids * 2_000,
    ROWS.subscriptions,
    ROWS.usage,
)


def test_a_chunk_is_priced_into_bills_items_and_errors() -> None:
    priced = price_chunk(ROWS, PRODUCTS)
    assert priced.bill_rows == (GOLDEN / "settlement_chunk.bill.tsv").read_bytes()
    assert priced.item_rows == (GOLDEN / "settlement_chunk.bill_item.tsv").read_bytes()
    assert priced.billed == [1, 4] and [m for m, _ in priced.errors] == [2, 3]
    bills = priced.bill_rows.decode().splitlines()
    items = priced.item_rows.decode().splitlines()
    assert priced.outcome.items == len(items) and priced.outcome.bills == 2
    assert priced.outcome.amount_due == sum(int(b.split("\t")[6]) for b in bills)
    assert sum(priced.outcome.totals.values()) == priced.outcome.amount_due


@pytest.mark.parametrize("processes", [0, 1])
def test_the_pool_prices_as_the_event_loop_does(processes: int) -> None:
    pool = PricingPool(processes)
    try:
        priced = asyncio.run(pool.price(ROWS, PRODUCTS))
    finally:
        pool.close()
    assert priced.bill_rows == (GOLDEN / "settlement_chunk.bill.tsv").read_bytes()
    assert priced == price_chunk(ROWS, PRODUCTS)


def test_a_warmed_pool_has_its_processes_before_the_first_chunk() -> None:
    pool = PricingPool(2)
    try:
        assert pool.pids() == []  # started on demand otherwise
        pool.warm()

        async def both() -> bool:
            return len(pool.pids()) == 2

        asyncio.run(eventually(both, "both pricing processes", 30))
        assert asyncio.run(pool.price(ROWS, PRODUCTS)) == price_chunk(ROWS, PRODUCTS)
        assert len(pool.pids()) == 2
    finally:
        pool.close()
    PricingPool(0).warm()  # nothing to start


def test_a_killed_pricing_process_fails_the_chunks_in_flight_and_the_pool_starts_again() -> None:
    pool = PricingPool(2)

    async def run() -> None:
        # both processes up: a chunk each, at once, slow enough to overlap
        await asyncio.gather(*(pool.price(BIG, PRODUCTS) for _ in range(2)))
        killed, survivor = pool.pids()
        os.kill(killed, signal.SIGKILL)
        # the chunks sent meanwhile fail (their pool is broken), until the pool notices
        for _ in range(100):
            outcomes = await asyncio.gather(
                *(pool.price(ROWS, PRODUCTS) for _ in range(3)), return_exceptions=True
            )
            if any(isinstance(o, BrokenProcessPool) for o in outcomes):
                break
        else:
            raise AssertionError("the pool never noticed its process was killed")
        assert pool.restarts == 1  # once, whichever chunk saw it first
        assert await pool.price(ROWS, PRODUCTS) == price_chunk(ROWS, PRODUCTS)
        # the broken pool's other process is ended, not left for its manager thread to wait
        # on (which kept the interpreter from exiting)
        await eventually(lambda: gone(survivor), "the broken pool's other process to end", 30)

    try:
        asyncio.run(run())
    finally:
        pool.close()


def test_ctrl_c_does_not_reach_the_pricing_processes() -> None:
    pool = PricingPool(1)

    async def run() -> None:
        await pool.price(ROWS, PRODUCTS)
        (pid,) = pool.pids()
        os.kill(pid, signal.SIGINT)
        assert await pool.price(ROWS, PRODUCTS) == price_chunk(ROWS, PRODUCTS)
        assert pool.pids() == [pid] and pool.restarts == 0

    try:
        asyncio.run(run())
    finally:
        pool.close()


WORKER = """
import asyncio, os
from activities.settlement_pool import PricingPool
from tests.unit.test_settlement_pool import PRODUCTS, ROWS
pool = PricingPool(1)
asyncio.run(pool.price(ROWS, PRODUCTS))
print(*pool.pids(), flush=True)
os._exit(0)  # gone without closing its pool, as a killed worker is
"""


def test_the_pricing_processes_do_not_outlive_their_worker() -> None:
    worker = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, timeout=60, check=True
    )
    (pid,) = map(int, worker.stdout.split())

    asyncio.run(eventually(lambda: gone(pid), "the pricing process to exit", within=6 * WATCH_S))


async def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=4))
@settings(max_examples=300, deadline=None)
def test_a_snapshot_is_written_as_copy_text_of_its_json(snapshot: dict[str, object]) -> None:
    """The short cut (one encoder, only backslashes doubled) writes what escaping every COPY
    special character of json.dumps' output would."""
    plain = json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"))
    escaped = plain.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    assert _snapshot_json(snapshot) == escaped.replace("\r", "\\r")
    assert "\r" not in plain and "\t" not in plain and "\n" not in plain
