"""The fast drills, in `make test` (`make drills` runs them all): the month by real processes,
one fault at a seeded random moment (printed, to run it again with `python -m tests.drills
--only NAME --seed N`), and every promise checked afterwards."""

from __future__ import annotations

import random

import pytest

from telebill.config import Settings
from tests.drills.faults import FAULTS, Fault
from tests.drills.run import drill

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.fast], ids=lambda f: f.name)
async def test_the_month_survives(fault: Fault, settings: Settings) -> None:
    seed = random.randrange(1_000_000)
    print(f"drill {fault.name} seed {seed}")
    result = await drill(fault, seed, 500, settings)
    failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.ok]
    assert result.ok, f"seed {seed}: {failed} exited={result.exited}"
