"""The contracts in telebill/contracts/ are what the workflows register and what their callers
send: each workflow's type, signal and query names equal the contract's constants, every payload
is frozen and keyword-only, and the settlement activities take and return the contract's payloads
under the contract's names."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest
from temporalio import activity, workflow

import activities.settlement as settlement_activities
from telebill.contracts import dispatch, notification, settlement
from telebill.db.settlement_store import ChunkOutcome
from workflows.dispatch import DispatchWorkflow, ScheduledDispatchWorkflow
from workflows.notification import BillNotificationWorkflow
from workflows.settlement import (
    MonthlySettlementWorkflow,
    ScheduledSettlementWorkflow,
    SettlementShardWorkflow,
)

# workflow class → (its type name, signal names, query names), all from the contracts
EXPECTED: dict[type, tuple[str, set[str], set[str]]] = {
    BillNotificationWorkflow: (
        notification.WORKFLOW,
        {
            notification.PREFERENCES_CHANGED,
            notification.RESERVE,
            notification.REPLAN_NOW,
            notification.DELIVERY_OUTCOME,
        },
        {notification.CURRENT},
    ),
    DispatchWorkflow: (dispatch.WORKFLOW, set(), set()),
    ScheduledDispatchWorkflow: (dispatch.SCHEDULED_WORKFLOW, set(), set()),
    MonthlySettlementWorkflow: (settlement.MONTHLY_WORKFLOW, set(), {settlement.PROGRESS}),
    SettlementShardWorkflow: (settlement.SHARD_WORKFLOW, set(), set()),
    ScheduledSettlementWorkflow: (settlement.SCHEDULED_WORKFLOW, set(), set()),
}

# What running workflows and recorded histories know them by: never to change.
KNOWN_NAMES = {
    notification.WORKFLOW: "BillNotificationWorkflow",
    notification.PREFERENCES_CHANGED: "preferences_changed",
    notification.RESERVE: "reserve",
    notification.REPLAN_NOW: "replan_now",
    notification.DELIVERY_OUTCOME: "delivery_outcome",
    notification.CURRENT: "current",
    dispatch.WORKFLOW: "DispatchWorkflow",
    dispatch.SCHEDULED_WORKFLOW: "ScheduledDispatchWorkflow",
    settlement.MONTHLY_WORKFLOW: "MonthlySettlementWorkflow",
    settlement.SHARD_WORKFLOW: "SettlementShardWorkflow",
    settlement.SCHEDULED_WORKFLOW: "ScheduledSettlementWorkflow",
    settlement.PROGRESS: "progress",
}

# Kept as a workflow's mutable state and answered by its query: keyword-only, not frozen.
STATE = {notification.NotifyState, settlement.SettlementProgress}


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda c: c.__name__)
def test_registered_names_are_the_contracts(cls: type) -> None:
    defn = workflow._Definition.must_from_class(cls)
    name, signals, queries = EXPECTED[cls]
    assert defn.name == name
    assert set(defn.signals) == signals
    assert set(defn.queries) == queries


def test_names_keep_their_values() -> None:
    for constant, value in KNOWN_NAMES.items():
        assert constant == value


def payloads() -> list[type]:
    found = []
    for module in (notification, dispatch, settlement):
        for value in vars(module).values():
            if dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                assert isinstance(value, type)
                found.append(value)
    return found


@pytest.mark.parametrize("cls", payloads(), ids=lambda c: c.__name__)
def test_payloads_are_keyword_only_and_frozen(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert all(f.kw_only for f in dataclasses.fields(cls)), f"{cls.__name__}: not keyword-only"
    if cls not in STATE:
        assert params.frozen, f"{cls.__name__}: not frozen"
    with pytest.raises(TypeError):
        cls("positional")


def test_settlement_activities_use_the_contracts_payloads() -> None:
    """No copies: every dataclass in the activities' signatures is the contract's own class."""
    acts = settlement_activities.SettlementActivities
    used = set()
    for method in (acts.open_settlement, acts.settle_shard, acts.close_settlement):
        hints = typing.get_type_hints(method)
        used |= {hint for hint in hints.values() if dataclasses.is_dataclass(hint)}
    assert used == {
        settlement.SettlementScope,
        settlement.ShardInput,
        settlement.ShardResult,
        settlement.CloseInput,
        settlement.SettlementSummary,
    }
    declared_here = [
        name
        for name, value in vars(settlement_activities).items()
        if inspect.isclass(value)
        and dataclasses.is_dataclass(value)
        and value.__module__ == settlement_activities.__name__
    ]
    assert declared_here == [], f"payloads declared in activities/settlement.py: {declared_here}"


def test_settlement_activity_names_are_the_contracts() -> None:
    acts = settlement_activities.SettlementActivities
    names = {
        activity._Definition.must_from_callable(m).name
        for m in (acts.open_settlement, acts.settle_shard, acts.close_settlement)
    }
    assert names == {settlement.OPEN, settlement.SETTLE_SHARD, settlement.CLOSE}


def test_shard_result_is_the_chunk_sums_and_the_range() -> None:
    """settle_shard adds its chunks up in a ChunkOutcome and builds the frozen ShardResult from it
    at the end: a field added to one and not the other would be lost."""
    sums = {f.name for f in dataclasses.fields(ChunkOutcome)}
    assert {f.name for f in dataclasses.fields(settlement.ShardResult)} == sums | {
        "first_member_id",
        "last_member_id",
    }


def test_a_retry_resumes_from_either_heartbeat_shape() -> None:
    """Before the payloads moved to the contract, the heartbeat held the whole ShardResult (the
    range too); now it holds the sums alone. A retry carries on from either."""
    expected = ChunkOutcome(
        members=3, already_billed=1, bills=2, items=6, errors=0, amount_due=9, totals={"PLAN": 9}
    )
    sums = dataclasses.asdict(expected)
    older = sums | {"first_member_id": 1, "last_member_id": 10}
    assert settlement_activities._resumed(older) == expected
    assert settlement_activities._resumed(dict(sums)) == expected
