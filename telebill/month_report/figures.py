"""What the month report shows, as plain typed values (read by `queries`, drawn by `charts`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from telebill.amount_figures import AmountFigures
from telebill.db.partition_store import PartitionSize
from telebill.settlement_report import MonthReport


@dataclass(frozen=True)
class Refusals:
    """Members the settlement refused, grouped by reason, with a few of them to look at."""

    reason: str
    members: int
    examples: list[int]


@dataclass(frozen=True)
class SettlementView:
    record: MonthReport
    spread: AmountFigures | None
    histogram: list[tuple[int, int]]  # (lower bound in won, bills), bins of HISTOGRAM_STEP
    refusals: list[Refusals]

    @property
    def seconds(self) -> float | None:
        r = self.record
        return (r.finished_at - r.started_at).total_seconds() if r.finished_at else None

    @property
    def members_per_second(self) -> float | None:
        s = self.seconds
        return self.record.members / s if s else None


@dataclass(frozen=True)
class ChannelDeliveries:
    """One channel's deliveries of the month: as the first channel of the bill's chain (the
    member's choice), or as a fallback after an earlier channel of the chain failed."""

    channel: str
    label: str
    chosen: int
    fallback: int


@dataclass(frozen=True)
class Funnel:
    """Each monthly notification once, by how it ended (or that it has not yet)."""

    email_first_try: int  # of the e-mails delivered as the chain's first channel
    email_after_retries: int
    # every channel that delivered, e-mail first and SMS (every chain's last) last
    channels: list[ChannelDeliveries]
    dead_letter: int
    in_flight: int  # published, no outcome yet
    scheduled: int  # not published yet

    @property
    def total(self) -> int:
        delivered = sum(c.chosen + c.fallback for c in self.channels)
        return delivered + self.dead_letter + self.in_flight + self.scheduled

    def of(self, channel: str) -> ChannelDeliveries:
        found = [c for c in self.channels if c.channel == channel]
        return found[0] if found else ChannelDeliveries(channel, channel, 0, 0)


@dataclass(frozen=True)
class Latency:
    """Percentiles in milliseconds over the delivered notifications."""

    what: str
    count: int
    p50: int
    p90: int
    p99: int
    largest: int


@dataclass(frozen=True)
class DeadLetters:
    reason: str  # numbers in it replaced by "#", so one cause is one row
    letters: int
    bills: list[int]  # the first few


@dataclass(frozen=True)
class DeliveryView:
    # (start of the bin, channel, deliveries); bins are hours, or minutes when everything
    # happened within BIN_MINUTES_BELOW hours
    per_bin: list[tuple[datetime, str, int]]
    bin_minutes: int
    labels: dict[str, str]  # channel → its name in the charts
    funnel: Funnel
    deferrals: dict[str, int]  # "quiet hours" / "blackout" → deferred attempts
    latencies: list[Latency]
    dead_letters: list[DeadLetters]


@dataclass(frozen=True)
class StuckBill:
    workflow_id: str
    member_id: int
    link: str | None  # the workflow in Temporal UI


@dataclass(frozen=True)
class OpenView:
    scheduled_by_day: list[tuple[date, int]]
    stuck: list[StuckBill] | None  # None: Temporal did not answer
    stuck_link: str | None = None  # the same list in Temporal UI


@dataclass(frozen=True)
class StorageView:
    """The month on disk: its partitions, and its archive when it was archived."""

    partitions: list[PartitionSize]
    archive_location: str | None = None
    archive_bytes: int | None = None

    @property
    def table_bytes(self) -> int:
        return sum(p.table_bytes for p in self.partitions)

    @property
    def index_bytes(self) -> int:
        return sum(p.index_bytes for p in self.partitions)


@dataclass(frozen=True)
class MonthView:
    month: str
    generated_at: datetime
    settlement: SettlementView
    delivery: DeliveryView
    open: OpenView
    notes: list[str] = field(default_factory=list)
    storage: StorageView | None = None
