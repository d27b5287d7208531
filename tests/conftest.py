from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from hypothesis import settings as hypothesis_settings

from telebill.config import Settings
from tests.clock import TEST_NOW_ENV, suite_now

# The dated runs (tests.dated) are about the date, not about exploring every input again.
hypothesis_settings.register_profile("dated", max_examples=25)


@pytest.fixture(scope="session", autouse=True)
def suite_clock() -> Iterator[None]:
    """With TELEBILL_TEST_NOW set, the whole test process lives at that instant (tests.clock)."""
    instant = suite_now()
    if instant is None:
        yield
        return
    with time_machine.travel(instant, tick=True):
        yield


def pytest_report_header() -> str:
    instant = suite_now()
    return f"{TEST_NOW_ENV}: {instant.isoformat() if instant else 'unset (the real time)'}"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()
