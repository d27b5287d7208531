"""Integration tests run against the real services; the stack is brought up if it is not running."""

from __future__ import annotations

import pytest

from telebill.config import Settings
from telebill.stack.manager import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
async def stack_running(settings: Settings) -> None:
    outcomes = await Stack(settings).up()
    failed = [f"{o.service}: {o.message}" for o in outcomes if not o.ok]
    if failed:
        pytest.fail("the stack did not come up: " + "; ".join(failed), pytrace=False)
