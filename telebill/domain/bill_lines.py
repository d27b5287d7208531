"""The lines of a bill, one builder per kind of subscription: a plan's fee, contract discount and
overage (pro-rated, throttled or capped as its terms say), an add-on's fee, a device instalment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from telebill.domain.products import (
    MemberMonth,
    Product,
    ProductKind,
    Subscription,
    Usage,
    size_text,
    speed_text,
)
from telebill.domain.proration import Period

CONTRACT_DISCOUNT_PERCENT = 25


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


@dataclass(frozen=True)
class Line:
    kind: LineKind
    label: str
    amount: int
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataCap:
    """The add-on that limits this month's data overage, and how much of its cap is left."""

    addon: Product
    left: int


def months_between(start: date, month: date) -> int:
    return (month.year - start.year) * 12 + month.month - start.month


def data_overage(
    s: Subscription, p: Product, used: int, allowance: int | None, cap: DataCap | None
) -> tuple[Line | None, dict[str, Any]]:
    """(the data overage line, if any is charged; what the fee line's snapshot says of the data
    beyond the allowance: the terms that applied, the throttle or the cap)."""
    if allowance is None or used <= allowance:
        return None, {}
    over = used - allowance
    if p.throttle_kbps is not None:
        speed = speed_text(p.throttle_kbps)
        terms = f"데이터 {size_text(allowance)} 소진 후 {speed} 속도 제한, 추가 요금 없음"
        return None, {"terms": terms, "throttle_kbps": p.throttle_kbps}
    amount = over * p.data_rate_mkrw_per_mb // 1000
    terms = (
        f"데이터 {size_text(allowance)} 초과 {over:,}MB, MB당 {p.data_rate_mkrw_per_mb / 1000:g}원"
    )
    product = p.snapshot(allowance=allowance, rate_mkrw_per_unit=p.data_rate_mkrw_per_mb, unit="MB")
    snap: dict[str, Any] = {"product": product, "subscription_id": s.id, "used": used, "over": over}
    capped: dict[str, Any] = {}
    if cap is not None and amount > cap.left:  # the add-on's cap (0: waived) for the month
        charged = cap.left
        cap.left = 0
        speed = (
            f" {speed_text(cap.addon.throttle_kbps)} 속도 제한," if cap.addon.throttle_kbps else ""
        )
        waived = "면제" if charged == 0 else f"중 {charged:,}원만 청구 (상한)"
        terms += f"; {cap.addon.name}:{speed} 초과 요금 {amount:,}원 {waived}"
        capped = {"capped_by": cap.addon.code, "uncapped": amount}
        snap |= capped | {"cap": cap.addon.data_overage_cap_krw}
        amount = charged
    elif cap is not None:
        cap.left -= amount
    snap["terms"] = terms
    line = Line(LineKind.DATA_OVERAGE, "데이터 초과 사용료", amount, snap) if amount else None
    return line, {"terms": terms, **capped}


def plan_lines(
    s: Subscription, p: Product, usage: list[Usage], period: Period, cap: DataCap | None
) -> list[Line]:
    fee = {"product": p.snapshot(monthly_fee=p.monthly_fee), "subscription_id": s.id}
    if not period.whole_month:
        fee["prorated"] = period.snapshot()
    data = sum(u.data_mb for u in usage)
    allowance = None if p.data_mb is None else period.share(p.data_mb)
    data_line, beyond = data_overage(s, p, data, allowance, cap)
    if beyond:
        fee["data"] = {"allowance_mb": allowance, "used_mb": data, **beyond}
    lines = [
        Line(
            LineKind.PLAN_FEE, f"{p.name} 기본료{period.label()}", period.share(p.monthly_fee), fee
        )
    ]
    if s.contract_discount:
        discount = period.share(p.monthly_fee * CONTRACT_DISCOUNT_PERCENT // 100)
        lines.append(
            Line(
                LineKind.CONTRACT_DISCOUNT,
                f"선택약정 할인 ({CONTRACT_DISCOUNT_PERCENT}%){period.label()}",
                -discount,
                {**fee, "percent": CONTRACT_DISCOUNT_PERCENT},
            )
        )
    if data_line is not None:
        lines.append(data_line)
    voice = sum(u.voice_sec for u in usage)
    sms = sum(u.sms_count for u in usage)
    for kind, label, used, full, rate, unit in (
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
        if full is None:
            continue
        allowed = period.share(full)
        over = max(0, used - allowed)
        amount = over * rate // 1000
        if amount:
            product = p.snapshot(allowance=allowed, rate_mkrw_per_unit=rate, unit=unit)
            snap = {"product": product, "subscription_id": s.id, "used": used, "over": over}
            lines.append(Line(kind, label, amount, snap))
    return lines


def addon_line(s: Subscription, p: Product, period: Period) -> Line:
    snap: dict[str, Any] = {
        "product": p.snapshot(monthly_fee=p.monthly_fee),
        "subscription_id": s.id,
    }
    if not period.whole_month:
        snap["prorated"] = period.snapshot()
    return Line(LineKind.ADDON_FEE, f"{p.name}{period.label()}", period.share(p.monthly_fee), snap)


def installment_line(s: Subscription, p: Product, month: date) -> Line | None:
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


def data_cap(mm: MemberMonth, periods: dict[int, Period | None]) -> DataCap | None:
    """The most generous data-overage cap among the add-ons held on any day of the month."""
    caps = [
        s.product
        for s in mm.subscriptions
        if s.product is not None
        and s.product.kind == ProductKind.ADDON
        and s.product.data_overage_cap_krw is not None
        and periods[s.id] is not None
    ]
    if not caps:
        return None
    best = min(caps, key=lambda p: (p.data_overage_cap_krw, p.id))
    assert best.data_overage_cap_krw is not None
    return DataCap(best, best.data_overage_cap_krw)
