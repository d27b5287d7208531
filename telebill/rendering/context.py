"""What a template can see: the bill, its items and the member, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from telebill.domain.proration import month_end

DUE_DAY = 25  # bills of month M are due on the 25th of month M+1
# What a template sees as the bill's page when checked or previewed with the sample bill.
SAMPLE_LINK = "https://bills.telebill.example/b/sample"


# Plain frozen dataclasses: a consumer builds these for thousands of bills a second from rows
# the database has typed already; validating them again as pydantic models took 8% of the
# e-mail consumer's CPU (py-spy, 2026-11-26).
@dataclass(frozen=True)
class MemberView:
    id: int
    name: str


@dataclass(frozen=True)
class ItemView:
    line_no: int
    kind: str
    label: str
    amount: int


@dataclass(frozen=True)
class BillView:
    id: int
    billing_month: date
    charges: int
    discounts: int
    vat: int
    amount_due: int
    due_date: date


@dataclass(frozen=True)
class BillContext:
    member: MemberView
    bill: BillView
    items: list[ItemView]
    # The member's signed link to the bill's page (telebill/channels/links.py); "" where there
    # is none to give: on that page itself, or when a template is checked against real bills.
    link: str = ""

    def for_template(self) -> dict[str, object]:
        """Plain data only: templates get no methods of these views to call."""
        return {
            "member": dict(vars(self.member)),
            "bill": dict(vars(self.bill)),
            "items": [dict(vars(item)) for item in self.items],
            "link": self.link,
        }


@lru_cache(maxsize=64)
def due_date(billing_month: date) -> date:
    nxt = date.fromordinal(month_end(billing_month).toordinal() + 1)
    return nxt.replace(day=DUE_DAY)


def sample_context() -> BillContext:
    """A bill with every kind of line, used to validate templates and for previews."""
    month = date(2026, 11, 1)
    labels = [
        ("PLAN_FEE", "5G 스탠다드 110GB 기본료", 62_727),
        ("CONTRACT_DISCOUNT", "선택약정 할인 (25%)", -15_681),
        ("DATA_OVERAGE", "데이터 초과 사용료", 4_506),
        ("VOICE_OVERAGE", "음성 초과 사용료", 198),
        ("SMS_OVERAGE", "문자 초과 사용료", 220),
        ("ADDON_FEE", "휴대폰 분실·파손 보험", 5_182),
        ("ADDON_FEE", "OTT 구독팩", 8_091),
        ("DEVICE_INSTALLMENT", "Galaxy S26 256GB 할부금 (3/24회)", 48_125),
        ("MICRO_PAYMENT", "소액결제", 12_345),
        ("VAT", "부가가치세 (10%)", 6_524),
        ("TRUNCATION", "10원 미만 절사", -7),
    ]
    items = [
        ItemView(line_no=i, kind=k, label=lab, amount=a) for i, (k, lab, a) in enumerate(labels, 1)
    ]
    charges = sum(
        i.amount for i in items if i.kind not in {"CONTRACT_DISCOUNT", "TRUNCATION", "VAT"}
    )
    discounts = sum(i.amount for i in items if i.kind in {"CONTRACT_DISCOUNT", "TRUNCATION"})
    vat = sum(i.amount for i in items if i.kind == "VAT")
    return BillContext(
        member=MemberView(id=1, name="남궁민수"),
        bill=BillView(
            id=0,
            billing_month=month,
            charges=charges,
            discounts=discounts,
            vat=vat,
            amount_due=charges + discounts + vat,
            due_date=due_date(month),
        ),
        items=items,
        link=SAMPLE_LINK,
    )
