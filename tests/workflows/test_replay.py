"""Workflows already running keep working after an upgrade: every history recorded from an
earlier version of the code (tests/workflows/histories, written by record_histories.py)
replays on today's workflows without a nondeterminism error."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.workflows.record_histories import WORKFLOWS
from workflows.notification import HISTORY_BOUND, LOCAL_FALLBACK_PATCH

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
    for version in ("v1", "v2", "v3", "v4", "v5"):
        names = {n.removeprefix(f"{version}_") for n in HISTORIES if n.startswith(version)}
        assert kinds <= names, version
    assert {"v3_settlement_then_dispatch", "v3_notify_clock_moved"} <= set(HISTORIES)
    assert {"v4_notify_delayed_start_due", "v4_notify_delayed_start_woken"} <= set(HISTORIES)
    # recorded before each member range's activity was given only its own members
    assert "v4_dispatch_listed_members" in HISTORIES
    # continue-as-new at the history bound (STUCK, no send window), the runs after it, and a
    # dispatch naming a stored member list
    assert {
        "v5_notify_stuck_continued",
        "v5_notify_stuck_resumed",
        "v5_notify_no_window_continued",
        "v5_notify_no_window_resumed",
        "v5_dispatch_member_list",
    } <= set(HISTORIES)
    # the local plan's attempts spent, then the regular activity (issue 32 item 5)
    assert "v6_notify_plan_fallback" in HISTORIES
    assert "v7_retention" in HISTORIES  # the retention Schedule's workflow (issue 34)


@pytest.mark.parametrize("name", ["v5_notify_stuck_continued", "v5_notify_no_window_continued"])
def test_a_continued_history_holds_the_patch_and_ends_continued(name: str) -> None:
    """What the replay of these checks: the patch marker, then continue-as-new, past the bound."""
    events = WorkflowHistory.from_json(IDS[name], HISTORIES[name]).events
    markers = [
        e.marker_recorded_event_attributes
        for e in events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert any(m.marker_name == "core_patch" for m in markers)
    assert events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    assert HISTORY_BOUND <= len(events) <= HISTORY_BOUND + 20


def test_the_fallback_history_holds_the_failed_local_plan_the_patch_and_the_activity() -> None:
    """What the replay of v6_notify_plan_fallback checks: the local activity's marker (its
    failure), the patch asked only then, and the same plan as a regular activity with a
    heartbeat timeout."""
    name = "v6_notify_plan_fallback"
    events = WorkflowHistory.from_json(IDS[name], HISTORIES[name]).events
    markers = [
        e.marker_recorded_event_attributes
        for e in events
        if e.HasField("marker_recorded_event_attributes")
    ]
    assert [m.marker_name for m in markers] == ["core_local_activity", "core_patch"]
    patch = b"".join(p.data for d in markers[1].details.values() for p in d.payloads)
    assert LOCAL_FALLBACK_PATCH.encode() in patch
    [scheduled] = [
        e.activity_task_scheduled_event_attributes
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled.activity_type.name == "notify.plan"
    assert scheduled.heartbeat_timeout.ToSeconds() > 0


def with_input_version(history_json: str, version: int) -> str:
    """The same history as if its workflow had been started with `version` in its input."""
    history = json.loads(history_json)
    payload = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][
        0
    ]
    params = json.loads(base64.b64decode(payload["data"]))
    payload["data"] = base64.b64encode(json.dumps(params | {"version": version}).encode()).decode()
    return json.dumps(history)


async def test_the_input_version_is_what_keeps_a_running_workflow_on_its_path() -> None:
    """A version-3 history read as version 4 is nondeterministic: without the version in the
    input, every notification asleep at an upgrade would fail on waking."""
    name = "v3_notify_asleep_replanned"
    history = WorkflowHistory.from_json(IDS[name], with_input_version(HISTORIES[name], 4))
    result = await Replayer(workflows=WORKFLOWS).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
