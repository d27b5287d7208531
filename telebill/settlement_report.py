"""The settlement report of a month, read from the settlement record (`telebill report`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from telebill.db.connect import DbConn
from telebill.db.settlement_store import latest_settled_month, settlement_record
from telebill.domain.pricing import LineKind
from telebill.errors import NotFound

KIND_LABELS = {
    LineKind.PLAN_FEE: "요금제 기본료",
    LineKind.CONTRACT_DISCOUNT: "선택약정 할인",
    LineKind.DATA_OVERAGE: "데이터 초과",
    LineKind.VOICE_OVERAGE: "음성 초과",
    LineKind.SMS_OVERAGE: "문자 초과",
    LineKind.ADDON_FEE: "부가서비스",
    LineKind.DEVICE_INSTALLMENT: "단말 할부금",
    LineKind.MICRO_PAYMENT: "소액결제",
    LineKind.VAT: "부가가치세",
    LineKind.TRUNCATION: "10원 미만 절사",
}


@dataclass(frozen=True)
class MonthReport:
    month: str
    status: str
    runs: int
    started_at: datetime
    finished_at: datetime | None
    members: int
    bills: int
    items: int
    errors: int
    amount_due: int
    totals: dict[str, int]
    last_run_bills: int
    last_run_items: int

    @property
    def items_per_bill(self) -> float:
        return self.items / self.bills if self.bills else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"] = self.started_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        out["items_per_bill"] = round(self.items_per_bill, 3)
        return out


async def read_report(conn: DbConn, month: date) -> MonthReport:
    row = await settlement_record(conn, month)
    if row is None:
        raise NotFound(
            f"{month:%Y-%m} has not been settled (run `telebill settle --month {month:%Y-%m}`)"
        )
    totals = json.loads(row["totals"])  # asyncpg hands jsonb over as text
    return MonthReport(
        month=f"{month:%Y-%m}",
        status=row["status"],
        runs=row["runs"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        members=row["members"],
        bills=row["bills"],
        items=row["items"],
        errors=row["errors"],
        amount_due=row["amount_due"],
        totals={k: int(v) for k, v in totals.items()},
        last_run_bills=row["last_run_bills"],
        last_run_items=row["last_run_items"],
    )


async def latest_settled(conn: DbConn) -> str | None:
    """The last month that has a settlement (YYYY-MM), if any."""
    found = await latest_settled_month(conn)
    return f"{found:%Y-%m}" if found else None
