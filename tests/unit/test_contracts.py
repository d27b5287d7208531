"""The contracts in telebill/contracts/ are what the workflows register and what their callers
send: each workflow's type, signal and query names equal the contract's constants, every payload
is frozen and keyword-only, and the settlement activities' own copies of their payloads keep the
contract's fields (until activities/settlement.py imports them from the contract)."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from temporalio import activity, workflow

import activities.settlement as settlement_activities
from telebill.contracts import dispatch, notification, settlement
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


@pytest.mark.parametrize(
    "name",
    ["SettlementScope", "ShardInput", "ShardResult", "CloseInput", "SettlementSummary"],
)
def test_settlement_activities_copies_keep_the_contract(name: str) -> None:
    """The JSON converter encodes by field name: the activity's class and the contract's are the
    same payload while their fields (names and types) are the same."""
    ours, theirs = getattr(settlement, name), getattr(settlement_activities, name)
    if ours is theirs:
        return  # activities/settlement.py imports it from the contract: nothing to compare
    assert typing.get_type_hints(ours) == typing.get_type_hints(theirs)
    assert {f.name for f in dataclasses.fields(ours)} == {
        f.name for f in dataclasses.fields(theirs)
    }


def test_settlement_activity_names_are_the_contracts() -> None:
    acts = settlement_activities.SettlementActivities
    names = {
        activity._Definition.must_from_callable(m).name
        for m in (acts.open_settlement, acts.settle_shard, acts.close_settlement)
    }
    assert names == {settlement.OPEN, settlement.SETTLE_SHARD, settlement.CLOSE}
