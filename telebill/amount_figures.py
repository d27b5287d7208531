"""How a month's amounts due are spread: what an operator compares with published figures, and
what `telebill report` shows under the totals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from telebill.db.connect import DbConn
from telebill.db.month_views import amount_spread
from telebill.domain.pricing import LineKind

# A bill above HIGH_BILL won needs one of EXPLAINING_KINDS to explain it.
HIGH_BILL = 400_000
EXPLAINING_KINDS = (LineKind.DEVICE_INSTALLMENT, LineKind.MICRO_PAYMENT)


@dataclass(frozen=True)
class AmountFigures:
    bills: int
    mean: int
    median: int
    p90: int
    p99: int
    largest: int
    p99_without_device_and_micro: int  # the amount due less device instalments and micro-payments
    largest_without_device_and_micro: int
    high_without_explanation: int  # bills above HIGH_BILL once those two are taken out
    prorated_lines: int
    throttled_plans: int  # plan lines whose data ran past the allowance at a throttled speed
    capped_overages: int  # plans whose data overage an add-on capped or waived

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def read_amount_figures(conn: DbConn, month: date) -> AmountFigures | None:
    """None when the month has no bill."""
    row = await amount_spread(conn, month, EXPLAINING_KINDS, HIGH_BILL)
    if row is None or not row["bills"]:
        return None
    return AmountFigures(
        bills=row["bills"],
        mean=row["mean"],
        median=row["median"],
        p90=row["p90"],
        p99=row["p99"],
        largest=row["largest"],
        p99_without_device_and_micro=row["p99_rest"],
        largest_without_device_and_micro=row["largest_rest"],
        high_without_explanation=row["high"],
        prorated_lines=row["prorated"],
        throttled_plans=row["throttled"],
        capped_overages=row["capped"],
    )
