"""`telebill stack`: idempotent up, status, external services, down/up keeping data, purge."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from telebill.config import Settings, asyncpg_dsn
from telebill.stack.manager import Stack
from tests.helpers import free_port, run_cli
from tests.integration.sleepy import SleepsAcrossRestart, wake_note


@pytest.fixture(params=[0o755, 0o700], ids=["open-folder", "private-folder"])
def stack_base(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A folder to hold a stack: one others can enter, and one they cannot (like /root), where
    PostgreSQL, run as an unprivileged user, must still work."""
    path = Path(tempfile.mkdtemp(prefix="telebill-it-"))
    path.chmod(request.param)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_second_up_finds_everything_running(settings: Settings) -> None:
    stack = Stack(settings)
    pids_before = {s.name: s.pid() for s in stack.services}
    outcomes = await stack.up()
    assert all(o.ok for o in outcomes), outcomes
    for o in outcomes:
        service = next(s for s in stack.services if s.name == o.service)
        if not service.external:
            assert o.message.startswith("already running"), o
    assert {s.name: s.pid() for s in stack.services} == pids_before


def test_status_json_reports_all_three_running(settings: Settings) -> None:
    result = run_cli("stack", "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"postgres", "kafka", "temporal"}
    for name, status in report.items():
        assert status["running"] is True, name
        assert status["address"]
        if status["managed"]:  # the disk its data takes (the Temporal server's grows fast)
            assert status["disk_bytes"] > 1_000_000, (name, status["disk_bytes"])


def test_an_address_from_the_environment_is_used_not_started(
    settings: Settings, tmp_path: Path
) -> None:
    env = {
        "TELEBILL_STACK_DIR": str(tmp_path / "unused"),
        "DATABASE_URL": asyncpg_dsn(settings.db_url),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_servers,
        "TEMPORAL_ADDRESS": settings.temporal_target,
    }
    result = run_cli("stack", "up", env=env)
    assert result.returncode == 0, result.stderr
    assert "from DATABASE_URL" in result.stdout
    assert "from KAFKA_BOOTSTRAP_SERVERS" in result.stdout
    assert "from TEMPORAL_ADDRESS" in result.stdout
    assert not (tmp_path / "unused" / "postgres").exists()  # nothing was provisioned


def test_an_address_from_the_environment_that_does_not_answer(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "TELEBILL_STACK_DIR": str(tmp_path),
        "DATABASE_URL": f"postgresql://x:y@127.0.0.1:{port}/z",
    }
    result = run_cli("stack", "up", "--only", "postgres", env=env)
    assert result.returncode != 0
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"DATABASE_URL=127.0.0.1:{port}/z does not answer" in err


@pytest.mark.slow
async def test_own_postgres_keeps_data_across_down_and_up_and_purge_deletes_it(
    stack_base: Path,
) -> None:
    settings = Settings(stack_dir=stack_base / "stack", pg_port=free_port())
    stack = Stack(settings, only=["postgres"])
    try:
        [outcome] = await stack.up()
        assert outcome.ok and outcome.message.startswith("started"), outcome
        dsn = asyncpg_dsn(settings.db_url)
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
        await conn.close()

        [stopped] = stack.down()
        assert stopped.message.startswith("stopped")
        assert not (await stack.status())[0].running
        [again] = await stack.up()
        assert again.message.startswith("started"), again
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("SELECT v FROM kept") == "still here"
        await conn.close()
    finally:
        [purged] = stack.down(purge=True)
    assert "data deleted" in purged.message
    assert not (stack_base / "stack" / "postgres").exists()


@pytest.mark.slow
async def test_sleeping_workflow_survives_temporal_down_and_up(settings: Settings) -> None:
    if settings.temporal_address:
        pytest.skip(
            "TEMPORAL_ADDRESS is set: this stack does not run Temporal, so cannot restart it"
        )
    temporal = Stack(settings, only=["temporal"])
    client = await Client.connect(settings.temporal_target)
    task_queue = f"restart-{uuid.uuid4().hex[:8]}"
    workflow_id = f"sleeps-across-restart-{uuid.uuid4().hex[:8]}"
    # No worker yet: the workflow's state lives only in the server's database.
    await client.start_workflow(
        SleepsAcrossRestart.run, "bill", id=workflow_id, task_queue=task_queue
    )

    [down] = temporal.down()
    assert down.message.startswith("stopped"), down
    [up] = await temporal.up()
    assert up.ok and up.message.startswith("started"), up

    client = await Client.connect(settings.temporal_target)
    handle = client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    async with Worker(
        client, task_queue=task_queue, workflows=[SleepsAcrossRestart], activities=[wake_note]
    ):
        assert await handle.result() == "bill woke up"
