"""The retention Schedule's contract: the workflow it starts each month and what its activity
is given and gives back (telebill/service/archive.py does the work)."""

from __future__ import annotations

from dataclasses import dataclass, field

RETENTION_WORKFLOW = "MonthlyRetentionWorkflow"
RETENTION_ID = "scheduled-retention"  # the Schedule's workflow id (Temporal appends the instant)
ARCHIVE_DUE = "retention.archive_due"


@dataclass(frozen=True, kw_only=True)
class RetentionInput:
    time_zone: str  # the months are counted in it (Asia/Seoul: the billing months' zone)


@dataclass(frozen=True, kw_only=True)
class RetentionRequest:
    now: str  # ISO: the workflow's clock, so a retried activity counts the same months
    time_zone: str


@dataclass(frozen=True, kw_only=True)
class RetentionResult:
    archived: list[str] = field(default_factory=list)  # YYYY-MM, oldest first
    rows: int = 0
    bytes: int = 0
    expired: list[str] = field(default_factory=list)  # archives past the years kept, removed
