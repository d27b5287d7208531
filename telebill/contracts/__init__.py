"""What the workflows, their activities and whoever starts, signals or queries them share: one
module per workflow family (`notification`, `dispatch`, `settlement`, `schedules`), and the
notification workflows' search attributes (`search_attributes`: the SDK's typed keys, apart so
that the families' contracts import nothing of the Temporal SDK).

Each holds the family's workflow type names, ids, task queues (by setting), signal and query
names, search attributes and payloads. `workflows/` and `activities/` import them, and so do the
service layer and the Temporal gateway (`telebill/temporal_gateway.py`), which never import
`workflows/` or `activities/` (tests/unit/test_import_layers.py holds that).

Rules for a payload (a workflow's or an activity's input or result, a signal's argument, a
query's answer):

- a frozen, keyword-only dataclass (`@dataclass(frozen=True, kw_only=True)`), built with
  keywords everywhere, so that reordering fields changes nothing;
- Temporal's JSON converter encodes it by field name: a field is never renamed, retyped or
  removed while a workflow that holds it may run or a recorded history holds it
  (tests/workflows/histories, replayed by tests/workflows/test_replay.py). A new field comes
  with a default, so that an older payload still decodes;
- names (workflow types, signals, queries, search attributes) are constants here and the
  workflows' decorators use them (tests/unit/test_contracts.py checks each workflow's
  registered names against these).

Versions: two mechanisms, each for its own kind of change.

- An input field (`NotifyInput.version`, `SettlementInput.dispatch_queue`,
  `DispatchInput.member_list`, …) records the shape a workflow *started with*: the starter
  chooses it, the workflow reads it, and it never changes for that run. Used where the new
  path is chosen at the start (the notification's lean version 4, where the dispatch runs).
  The field stays as long as a running workflow or a recorded history may carry the old value.
- `workflow.patched(...)` (ids next to the workflow that asks, in `workflows/`) marks a change
  to code that *running* workflows execute: the new commands are taken only by a run that had
  not passed that point on older code. Retiring either is in docs/upgrades.md.
"""
