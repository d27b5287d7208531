"""The pricing rules of design section 4, as pure functions: a member's month → bill lines.

Integer KRW throughout. Overage rates are milli-KRW per unit and each overage line is floored to
whole won. A plan, add-on or contract discount active for part of the month is pro-rated by days
(`proration`), and so are a plan's allowances; device instalments are not. A plan with a throttle
speed slows down after its data allowance and charges no data overage; an add-on with a cap
(데이터 안심옵션: a cap of 0) limits the month's data overage. VAT is floor(10% × taxable
subtotal); device instalments and micro-payments are VAT-exempt. The total is truncated below
10 KRW (10원 미만 절사) and the truncated part is a line of its own. Lines of zero won are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from telebill.domain.bill_lines import (
    Line,
    LineKind,
    addon_line,
    data_cap,
    installment_line,
    plan_lines,
)
from telebill.domain.products import MemberMonth, Product, ProductKind, Subscription, Usage
from telebill.domain.proration import Period, active_period
from telebill.domain.usage_limits import impossible_usage, over_micro_limit

__all__ = ["Line", "LineKind", "MemberMonth", "PricedBill", "PricingError", "Product",
           "ProductKind", "Subscription", "Usage", "price_member"]  # fmt: skip

VAT_PERCENT = 10
TRUNCATE_TO = 10
DISCOUNT_KINDS = frozenset({LineKind.CONTRACT_DISCOUNT, LineKind.TRUNCATION})


class PricingError(ValueError):
    """The member's data cannot be priced; the message is the reason recorded for the member."""


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


def _validate(mm: MemberMonth, periods: dict[int, Period | None]) -> None:
    own = {s.id: s for s in mm.subscriptions}
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
        p = own[u.subscription_id].product
        assert p is not None
        if p.kind == ProductKind.PLAN:
            period = periods[u.subscription_id]
            allowance = None if period is None or p.data_mb is None else period.share(p.data_mb)
            problem = impossible_usage(
                u.subscription_id,
                period,
                u.data_mb,
                u.voice_sec,
                p.max_speed_kbps,
                allowance,
                throttle_after_allowance(p, period, mm.subscriptions, periods),
            )
            if problem:
                raise PricingError(problem)
    problem = over_micro_limit(sum(u.micro_payment_krw for u in mm.usage), mm.micro_payment_limit)
    if problem:
        raise PricingError(problem)


def throttle_after_allowance(
    plan: Product,
    period: Period | None,
    subscriptions: Sequence[Subscription],
    periods: dict[int, Period | None],
) -> int | None:
    """The fastest a plan line can run once its allowance is used up (None: its top speed).

    Its own throttle, or that of an add-on which waives the data overage and slows the line
    instead (데이터 안심옵션: a cap of 0 and a throttle), held on every day the plan is active.
    An add-on held on only some of those days leaves the top speed: usage is a month's total, so
    the days without it could have run at full speed, and the check must not refuse a month
    that could have happened. An add-on with a positive cap leaves the top speed too (the line
    runs at full speed until the cap is reached). When both slow the line, the faster counts."""
    speeds = [plan.throttle_kbps] if plan.throttle_kbps is not None else []
    for s in subscriptions:
        addon, held = s.product, periods.get(s.id)
        if (
            period is not None
            and held is not None
            and addon is not None
            and addon.kind == ProductKind.ADDON
            and addon.data_overage_cap_krw == 0
            and addon.throttle_kbps is not None
            and held.first <= period.first
            and held.last >= period.last
        ):
            speeds.append(addon.throttle_kbps)
    return max(speeds) if speeds else None


def price_member(mm: MemberMonth) -> PricedBill:
    """All lines of one member's bill for one month. Raises PricingError on bad input."""
    periods = {s.id: active_period(s.starts_on, s.ends_on, mm.month) for s in mm.subscriptions}
    _validate(mm, periods)
    usage_by_sub: dict[int, list[Usage]] = {}
    for u in mm.usage:
        usage_by_sub.setdefault(u.subscription_id, []).append(u)
    cap = data_cap(mm, periods)

    taxable: list[Line] = []
    exempt: list[Line] = []
    for s in sorted(mm.subscriptions, key=lambda s: s.id):
        p = s.product
        assert p is not None  # _validate
        period = periods[s.id]
        if period is None:
            continue
        if p.kind == ProductKind.DEVICE:  # instalments run by month number, not active days
            line = installment_line(s, p, mm.month)
            if line is not None:
                exempt.append(line)
        elif p.kind == ProductKind.PLAN:
            taxable += plan_lines(s, p, usage_by_sub.get(s.id, []), period, cap)
        elif p.kind == ProductKind.ADDON:
            taxable.append(addon_line(s, p, period))
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
        lines=tuple(lines),
        charges=charges,
        discounts=discounts,
        vat=vat,
        amount_due=before - truncated,
    )
