"""Workflows already running keep working after an upgrade: every history recorded from an
earlier version of the code (tests/workflows/histories, written by record_histories.py)
replays on today's workflows without a nondeterminism error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.workflows.record_histories import WORKFLOWS

FOLDER = Path(__file__).parent / "histories"
IDS: dict[str, str] = json.loads((FOLDER / "ids.json").read_text())
HISTORIES = {name: (FOLDER / f"{name}.json").read_text() for name in sorted(IDS)}


@pytest.mark.parametrize("name", HISTORIES)
async def test_a_recorded_history_replays_on_todays_code(name: str) -> None:
    history = WorkflowHistory.from_json(IDS[name], HISTORIES[name])
    replayer = Replayer(workflows=WORKFLOWS)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_there_are_histories_of_every_workflow_kind() -> None:
    kinds = {"notify_due_outcome_at_once", "notify_stuck_then_found", "scheduled_dispatch"}
    for version in ("v1", "v2", "v3"):
        names = {n.removeprefix(f"{version}_") for n in HISTORIES if n.startswith(version)}
        assert kinds <= names, version
    assert {"v3_settlement_then_dispatch", "v3_notify_clock_moved"} <= set(HISTORIES)
