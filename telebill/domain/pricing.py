"""The pricing rules of design section 4, as pure functions: a member's month → bill lines.

Integer KRW throughout. Overage rates are milli-KRW per unit and each overage line is floored to
whole won. VAT is floor(10% × taxable subtotal); device instalments and micro-payments are
VAT-exempt. The total is truncated below 10 KRW (10원 미만 절사) and the truncated part is a line
of its own. Lines of zero won are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

CONTRACT_DISCOUNT_PERCENT = 25
VAT_PERCENT = 10
TRUNCATE_TO = 10


class LineKind(StrEnum):
    PLAN_FEE = "PLAN_FEE"
    CONTRACT_DISCOUNT = "CONTRACT_DISCOUNT"
    DATA_OVERAGE = "DATA_OVERAGE"
    VOICE_OVERAGE = "VOICE_OVERAGE"
    SMS_OVERAGE = "SMS_OVERAGE"
    ADDON_FEE = "ADDON_FEE"
    DEVICE_INSTALLMENT = "DEVICE_INSTALLMENT"
    MICRO_PAYMENT = "MICRO_PAYMENT"
    VAT = "VAT"
    TRUNCATION = "TRUNCATION"


DISCOUNT_KINDS = frozenset({LineKind.CONTRACT_DISCOUNT, LineKind.TRUNCATION})


class PricingError(ValueError):
    """The member's data cannot be priced; the message is the reason recorded for the member."""


@dataclass(frozen=True)
class Product:
    """A catalogue entry as it is at settlement time (it goes into each line's snapshot)."""

    id: int
    code: str
    kind: str  # plan | addon | device
    name: str
    monthly_fee: int = 0
    data_mb: int | None = None  # allowance; None = unlimited
    voice_sec: int | None = None
    sms_count: int | None = None
    data_rate_mkrw_per_mb: int = 0
    voice_rate_mkrw_per_sec: int = 0
    sms_rate_mkrw: int = 0
    device_price: int | None = None
    vat_exempt: bool = False

    def snapshot(self, **terms: Any) -> dict[str, Any]:
        """The product as a line was computed from it: its identity plus the terms that line
        used (a fee line keeps the fee, an overage line its allowance and rate, and so on)."""
        return {"id": self.id, "code": self.code, "name": self.name, **terms}


@dataclass(frozen=True)
class Subscription:
    id: int
    product: Product | None  # None: the product is not in the catalogue
    product_id: int
    starts_on: date
    ends_on: date | None = None
    contract_discount: bool = False
    installment_months: int | None = None


@dataclass(frozen=True)
class Usage:
    subscription_id: int
    data_mb: int = 0
    voice_sec: int = 0
    sms_count: int = 0
    micro_payment_krw: int = 0


@dataclass(frozen=True)
class MemberMonth:
    member_id: int
    month: date  # first day of the billing month
    subscriptions: tuple[Subscription, ...]
    usage: tuple[Usage, ...] = ()


@dataclass(frozen=True)
class Line:
    kind: LineKind
    label: str
    amount: int
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PricedBill:
    member_id: int
    month: date
    lines: tuple[Line, ...]
    charges: int  # every line but discounts, VAT and truncation (≥ 0)
    discounts: int  # contract discounts and the truncated part (≤ 0)
    vat: int
    amount_due: int  # = charges + discounts + vat = the sum of the lines; a multiple of 10

    @property
    def nothing_due(self) -> bool:
        return not self.lines


def months_between(start: date, month: date) -> int:
    return (month.year - start.year) * 12 + month.month - start.month


def month_end(month: date) -> date:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def _overage(used: int, allowance: int | None, rate_mkrw: int) -> tuple[int, int]:
    """(units beyond the allowance, their price floored to whole won)."""
    if allowance is None:
        return 0, 0
    over = max(0, used - allowance)
    return over, over * rate_mkrw // 1000


def _validate(mm: MemberMonth) -> None:
    own = {s.id for s in mm.subscriptions}
    for s in mm.subscriptions:
        if s.product is None:
            raise PricingError(f"subscription {s.id} refers to unknown product {s.product_id}")
    for u in mm.usage:
        if u.subscription_id not in own:
            raise PricingError(f"usage for subscription {u.subscription_id}, not the member's")
        for name in ("data_mb", "voice_sec", "sms_count", "micro_payment_krw"):
            if getattr(u, name) < 0:
                raise PricingError(
                    f"negative {name} ({getattr(u, name)}) for subscription {u.subscription_id}"
                )


def _plan_lines(s: Subscription, p: Product, usage: list[Usage]) -> list[Line]:
    fee = {"product": p.snapshot(monthly_fee=p.monthly_fee), "subscription_id": s.id}
    lines = [Line(LineKind.PLAN_FEE, f"{p.name} 기본료", p.monthly_fee, fee)]
    if s.contract_discount:
        discount = p.monthly_fee * CONTRACT_DISCOUNT_PERCENT // 100
        lines.append(
            Line(
                LineKind.CONTRACT_DISCOUNT,
                f"선택약정 할인 ({CONTRACT_DISCOUNT_PERCENT}%)",
                -discount,
                {**fee, "percent": CONTRACT_DISCOUNT_PERCENT},
            )
        )
    data = sum(u.data_mb for u in usage)
    voice = sum(u.voice_sec for u in usage)
    sms = sum(u.sms_count for u in usage)
    for kind, label, used, allowance, rate, unit in (
        (
            LineKind.DATA_OVERAGE,
            "데이터 초과 사용료",
            data,
            p.data_mb,
            p.data_rate_mkrw_per_mb,
            "MB",
        ),
        (
            LineKind.VOICE_OVERAGE,
            "음성 초과 사용료",
            voice,
            p.voice_sec,
            p.voice_rate_mkrw_per_sec,
            "sec",
        ),
        (LineKind.SMS_OVERAGE, "문자 초과 사용료", sms, p.sms_count, p.sms_rate_mkrw, "건"),
    ):
        over, amount = _overage(used, allowance, rate)
        if amount:
            product = p.snapshot(allowance=allowance, rate_mkrw_per_unit=rate, unit=unit)
            snap = {"product": product, "subscription_id": s.id, "used": used, "over": over}
            lines.append(Line(kind, label, amount, snap))
    return lines


def _installment_line(s: Subscription, p: Product, month: date) -> Line | None:
    months = s.installment_months
    price = p.device_price or 0
    if not months or price <= 0:
        return None
    number = months_between(s.starts_on, month) + 1  # the purchase month pays instalment 1
    if not 1 <= number <= months:
        return None
    monthly = price // months
    # The remainder of the division is paid with the last instalment, so they add up to the price.
    amount = monthly + (price - monthly * months if number == months else 0)
    snap = {
        "product": p.snapshot(device_price=price),
        "subscription_id": s.id,
        "months": months,
        "number": number,
    }
    return Line(LineKind.DEVICE_INSTALLMENT, f"{p.name} 할부금 ({number}/{months}회)", amount, snap)


def _active(s: Subscription, month: date) -> bool:
    return s.starts_on <= month_end(month) and (s.ends_on is None or s.ends_on >= month)


def price_member(mm: MemberMonth) -> PricedBill:
    """All lines of one member's bill for one month. Raises PricingError on bad input."""
    _validate(mm)
    usage_by_sub: dict[int, list[Usage]] = {}
    for u in mm.usage:
        usage_by_sub.setdefault(u.subscription_id, []).append(u)

    taxable: list[Line] = []
    exempt: list[Line] = []
    for s in sorted(mm.subscriptions, key=lambda s: s.id):
        p = s.product
        assert p is not None  # _validate
        if not _active(s, mm.month):
            continue
        if p.kind == "plan":
            taxable += _plan_lines(s, p, usage_by_sub.get(s.id, []))
        elif p.kind == "addon":
            snap = {"product": p.snapshot(monthly_fee=p.monthly_fee), "subscription_id": s.id}
            taxable.append(Line(LineKind.ADDON_FEE, p.name, p.monthly_fee, snap))
        elif p.kind == "device":
            line = _installment_line(s, p, mm.month)
            if line is not None:
                exempt.append(line)
        else:
            raise PricingError(f"product {p.code} has unknown kind {p.kind!r}")

    micro = sum(u.micro_payment_krw for u in mm.usage)
    exempt.append(Line(LineKind.MICRO_PAYMENT, "소액결제", micro, {"pass_through": True}))

    taxable_subtotal = sum(line.amount for line in taxable)
    if taxable_subtotal < 0:
        raise PricingError(f"taxable subtotal is negative ({taxable_subtotal})")
    vat = taxable_subtotal * VAT_PERCENT // 100
    vat_line = Line(
        LineKind.VAT,
        "부가가치세 (10%)",
        vat,
        {"percent": VAT_PERCENT, "taxable_subtotal": taxable_subtotal},
    )
    before = taxable_subtotal + sum(line.amount for line in exempt) + vat
    truncated = before % TRUNCATE_TO
    trunc_line = Line(LineKind.TRUNCATION, "10원 미만 절사", -truncated, {"total_before": before})

    lines = tuple(line for line in (*taxable, *exempt, vat_line, trunc_line) if line.amount != 0)
    discounts = sum(line.amount for line in lines if line.kind in DISCOUNT_KINDS)
    charges = sum(
        line.amount
        for line in lines
        if line.kind not in DISCOUNT_KINDS and line.kind != LineKind.VAT
    )
    return PricedBill(
        member_id=mm.member_id,
        month=mm.month,
        lines=lines,
        charges=charges,
        discounts=discounts,
        vat=vat,
        amount_due=before - truncated,
    )
