"""The settlement family's contract: `MonthlySettlementWorkflow` (id settlement-YYYY-MM), its
`SettlementShardWorkflow` children (…/shard-KKKK), `ScheduledSettlementWorkflow` (what the
monthly Schedule starts), the `progress` query, and the payloads of the settlement activities
(`settlement.open`, `settlement.settle_shard`, `settlement.close`).

Task queue: TELEBILL_TASK_QUEUE-settlement (Settings.settlement_task_queue,
WorkQueue.SETTLEMENT). Rules and versions: telebill/contracts/__init__.py.

activities/settlement.py imports the five activity payloads below from here and builds them with
keywords (tests/unit/test_contracts.py holds that it declares none of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MONTHLY_WORKFLOW = "MonthlySettlementWorkflow"
SHARD_WORKFLOW = "SettlementShardWorkflow"
SCHEDULED_WORKFLOW = "ScheduledSettlementWorkflow"
SCHEDULED_ID = "scheduled-settlement"  # the Schedule's action (Temporal appends the instant)
PROGRESS = "progress"  # query: SettlementProgress

# The activities, by name (their decorators in activities/settlement.py).
OPEN = "settlement.open"  # (settlement_id, month) → SettlementScope
SETTLE_SHARD = "settlement.settle_shard"  # ShardInput → ShardResult
CLOSE = "settlement.close"  # CloseInput → SettlementSummary


def settlement_id(month: str) -> str:
    return f"settlement-{month}"


@dataclass(frozen=True, kw_only=True)
class SettlementInput:
    month: str  # YYYY-MM
    shard_size: int = 20_000
    chunk_size: int = 5_000
    parallel: int = 3  # shards settling at once
    heartbeat_timeout_s: float = 60.0
    notify: bool = True  # then start the bills' notification workflows (see run)
    # The dispatch's task queue (TELEBILL_TASK_QUEUE-dispatch); None: this workflow's own, as
    # before the queues were split (so a history of then replays unchanged).
    dispatch_queue: str | None = None


@dataclass(frozen=True, kw_only=True)
class ScheduledSettlementInput:
    time_zone: str = "Asia/Seoul"
    settlement: SettlementInput | None = None  # month is replaced by the previous month
    dispatch_queue: str | None = None  # see SettlementInput


@dataclass(frozen=True, kw_only=True)
class SettlementScope:
    settlement_id: str
    month: str
    first_member_id: int
    last_member_id: int
    members: int
    run: int


@dataclass(frozen=True, kw_only=True)
class ShardInput:
    settlement_id: str
    month: str
    first_member_id: int
    last_member_id: int
    chunk_size: int


@dataclass(frozen=True, kw_only=True)
class ShardResult:
    """What a shard's chunks added up to, for the member range it covered (the fields of
    telebill.db.settlement_copy.ChunkOutcome, which the activity adds up, and the range)."""

    members: int = 0  # members of the range looked at
    already_billed: int = 0
    bills: int = 0
    items: int = 0
    errors: int = 0
    amount_due: int = 0
    totals: dict[str, int] = field(default_factory=dict)  # line kind → sum of amounts
    first_member_id: int = 0
    last_member_id: int = 0


@dataclass(frozen=True, kw_only=True)
class CloseInput:
    settlement_id: str
    month: str


@dataclass(frozen=True, kw_only=True)
class SettlementSummary:
    settlement_id: str
    month: str
    members: int
    bills: int  # bills of the month, all runs
    items: int
    errors: int
    amount_due: int
    totals: dict[str, int]
    bills_created: int  # by this run
    items_created: int
    nothing_due: int = 0

    @property
    def nothing_left(self) -> bool:
        return self.bills_created == 0


# Not frozen: the workflow keeps it as its state and adds to it as shards finish; the query
# answers with it. Keyword-only like the payloads.
@dataclass(kw_only=True)
class SettlementProgress:
    month: str
    members: int = 0
    shards_total: int = 0
    shards_done: int = 0
    members_done: int = 0
    bills_created: int = 0
    items_created: int = 0
    errors: int = 0
    phase: str = "starting"  # starting, settling, closing, done
    summary: SettlementSummary | None = None
    shard_results: list[ShardResult] = field(default_factory=list)
