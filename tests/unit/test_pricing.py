"""The pricing rules (design section 4): worked examples and properties."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebill.domain.pricing import (
    LineKind,
    MemberMonth,
    PricedBill,
    PricingError,
    Product,
    Subscription,
    Usage,
    price_member,
)

NOV = date(2026, 11, 1)
SLIM = Product(
    105,
    "5G_SLIM_8G",
    "plan",
    "5G 슬림 8GB",
    49_091,
    data_mb=8_192,
    data_rate_mkrw_per_mb=22_530,
    voice_rate_mkrw_per_sec=1_980,
    sms_rate_mkrw=22_000,
)
LTE = Product(
    104,
    "LTE_DATA_2_5G",
    "plan",
    "LTE 데이터 2.5GB",
    36_364,
    data_mb=2_560,
    data_rate_mkrw_per_mb=22_530,
)
SENIOR = Product(
    101,
    "LTE_SENIOR_300M",
    "plan",
    "LTE 시니어 300MB",
    11_818,
    data_mb=300,
    voice_sec=3_000,
    sms_count=50,
    data_rate_mkrw_per_mb=22_530,
    voice_rate_mkrw_per_sec=1_980,
    sms_rate_mkrw=22_000,
)
COLORING = Product(201, "ADD_COLORING", "addon", "V컬러링", 3_000)
GALAXY = Product(
    301, "DEV_GALAXY_S26", "device", "Galaxy S26", device_price=1_155_000, vat_exempt=True
)
FREE = Product(109, "FREE", "plan", "무료 요금제", 0)


def sub(sid: int, product: Product, starts: date = date(2024, 1, 1), **kw: object) -> Subscription:
    return Subscription(sid, product, product.id, starts, **kw)  # type: ignore[arg-type]


def amounts(bill: PricedBill) -> dict[LineKind, int]:
    return {line.kind: line.amount for line in bill.lines}


def test_worked_example_with_every_kind_of_line() -> None:
    mm = MemberMonth(
        member_id=7,
        month=NOV,
        subscriptions=(
            sub(56, SLIM, contract_discount=True),
            sub(57, COLORING),
            sub(63, GALAXY, starts=date(2026, 9, 14), installment_months=24),
        ),
        usage=(
            Usage(56, data_mb=9_000, voice_sec=20_000, sms_count=500, micro_payment_krw=12_345),
        ),
    )
    bill = price_member(mm)
    assert amounts(bill) == {
        LineKind.PLAN_FEE: 49_091,
        LineKind.CONTRACT_DISCOUNT: -12_272,  # floor(25% × 49,091 = 12,272.75)
        LineKind.DATA_OVERAGE: 18_204,  # 808 MB × 22.53 = 18,204.24
        LineKind.ADDON_FEE: 3_000,
        LineKind.DEVICE_INSTALLMENT: 48_125,  # 1,155,000 / 24, instalment 3 of 24
        LineKind.MICRO_PAYMENT: 12_345,
        LineKind.VAT: 5_802,  # floor(10% × 58,023)
        LineKind.TRUNCATION: -5,  # 124,295 → 124,290
    }
    assert [line.kind for line in bill.lines][:2] == [LineKind.PLAN_FEE, LineKind.CONTRACT_DISCOUNT]
    assert bill.amount_due == 124_290
    assert (bill.charges, bill.discounts, bill.vat) == (130_765, -12_277, 5_802)
    installment = next(ln for ln in bill.lines if ln.kind == LineKind.DEVICE_INSTALLMENT)
    assert installment.label == "Galaxy S26 할부금 (3/24회)"
    assert installment.snapshot["product"]["device_price"] == 1_155_000
    assert installment.snapshot["months"] == 24 and installment.snapshot["number"] == 3
    data = next(ln for ln in bill.lines if ln.kind == LineKind.DATA_OVERAGE)
    assert data.snapshot["used"] == 9_000 and data.snapshot["over"] == 808
    assert data.snapshot["product"]["rate_mkrw_per_unit"] == 22_530
    assert data.snapshot["product"]["allowance"] == 8_192
    fee = bill.lines[0].snapshot["product"]
    assert (fee["code"], fee["monthly_fee"]) == ("5G_SLIM_8G", 49_091)


def test_member_without_usage_gets_the_plan_lines() -> None:
    bill = price_member(MemberMonth(1, NOV, (sub(8, LTE),)))
    assert amounts(bill) == {LineKind.PLAN_FEE: 36_364, LineKind.VAT: 3_636}
    assert bill.amount_due == 40_000  # nothing to truncate, so no truncation line


def test_voice_and_sms_overage_and_truncation() -> None:
    mm = MemberMonth(2, NOV, (sub(16, SENIOR),), (Usage(16, 100, 3_100, 60, 0),))
    bill = price_member(mm)
    assert amounts(bill) == {
        LineKind.PLAN_FEE: 11_818,
        LineKind.VOICE_OVERAGE: 198,  # 100 s × 1.98
        LineKind.SMS_OVERAGE: 220,  # 10 × 22
        LineKind.VAT: 1_223,
        LineKind.TRUNCATION: -9,
    }
    assert bill.amount_due == 13_450


def test_last_instalment_carries_the_remainder() -> None:
    def nth(n: int) -> int:
        month = date(2024 + (n - 1) // 12, (n - 1) % 12 + 1, 1)
        bill = price_member(
            MemberMonth(3, month, (sub(1, GALAXY, date(2024, 1, 5), installment_months=36),))
        )
        return amounts(bill).get(LineKind.DEVICE_INSTALLMENT, 0)

    assert nth(1) == 32_083 and nth(35) == 32_083 and nth(36) == 32_095
    assert sum(nth(n) for n in range(1, 37)) == 1_155_000
    assert nth(37) == 0  # paid off: no line


def test_nothing_to_charge_gives_an_empty_bill_of_zero() -> None:
    bill = price_member(MemberMonth(4, NOV, (sub(1, FREE),)))
    assert bill.nothing_due and bill.amount_due == 0 and bill.lines == ()


def test_subscription_starting_after_the_month_is_not_billed() -> None:
    bill = price_member(
        MemberMonth(5, NOV, (sub(1, LTE), sub(2, COLORING, starts=date(2026, 12, 3))))
    )
    assert LineKind.ADDON_FEE not in amounts(bill)


@pytest.mark.parametrize(
    ("mm", "reason"),
    [
        (MemberMonth(6, NOV, (sub(1, LTE),), (Usage(1, data_mb=-5),)), "negative data_mb"),
        (MemberMonth(6, NOV, (sub(1, LTE),), (Usage(1, micro_payment_krw=-1),)), "negative micro"),
        (MemberMonth(6, NOV, (sub(1, LTE),), (Usage(99, data_mb=5),)), "not the member's"),
        (
            MemberMonth(6, NOV, (Subscription(1, None, 404, date(2024, 1, 1)),)),
            "unknown product 404",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason(mm: MemberMonth, reason: str) -> None:
    with pytest.raises(PricingError, match=reason):
        price_member(mm)


# -- properties ---------------------------------------------------------------------------------

allowance = st.one_of(st.none(), st.integers(0, 200_000))
plans = st.builds(
    Product,
    id=st.integers(100, 199),
    code=st.just("P"),
    kind=st.just("plan"),
    name=st.just("요금제"),
    monthly_fee=st.integers(0, 200_000),
    data_mb=allowance,
    voice_sec=allowance,
    sms_count=allowance,
    data_rate_mkrw_per_mb=st.integers(0, 50_000),
    voice_rate_mkrw_per_sec=st.integers(0, 5_000),
    sms_rate_mkrw=st.integers(0, 50_000),
)
addons = st.builds(
    Product,
    id=st.integers(200, 299),
    code=st.just("A"),
    kind=st.just("addon"),
    name=st.just("부가"),
    monthly_fee=st.integers(0, 50_000),
)
devices = st.builds(
    Product,
    id=st.integers(300, 399),
    code=st.just("D"),
    kind=st.just("device"),
    name=st.just("단말"),
    device_price=st.integers(1, 3_000_000),
    vat_exempt=st.just(True),
)


@st.composite
def member_months(draw: st.DrawFn) -> MemberMonth:
    products = [draw(plans), *draw(st.lists(st.one_of(addons, devices), max_size=4))]
    month = draw(st.dates(date(2020, 1, 1), date(2030, 12, 1))).replace(day=1)
    subs = tuple(
        Subscription(
            i,
            p,
            p.id,
            draw(st.dates(date(2018, 1, 1), month)),
            None,
            draw(st.booleans()),
            draw(st.sampled_from([12, 24, 30, 36])) if p.kind == "device" else None,
        )
        for i, p in enumerate(products, start=1)
    )
    quantity = st.integers(0, 10**6)
    usage = tuple(
        Usage(
            s.id,
            draw(quantity),
            draw(quantity),
            draw(st.integers(0, 5_000)),
            draw(st.integers(0, 500_000)),
        )
        for s in subs
        if draw(st.booleans())
    )
    return MemberMonth(draw(st.integers(1, 10**7)), month, subs, usage)


TAXABLE = {
    LineKind.PLAN_FEE,
    LineKind.CONTRACT_DISCOUNT,
    LineKind.DATA_OVERAGE,
    LineKind.VOICE_OVERAGE,
    LineKind.SMS_OVERAGE,
    LineKind.ADDON_FEE,
}


@given(member_months())
def test_totals_are_the_sum_of_the_lines(mm: MemberMonth) -> None:
    bill = price_member(mm)
    assert bill.amount_due == sum(line.amount for line in bill.lines)
    assert bill.amount_due == bill.charges + bill.discounts + bill.vat
    assert bill.charges >= 0 and bill.discounts <= 0 and bill.vat >= 0


@given(member_months())
def test_vat_is_exactly_floor_of_ten_percent_of_the_taxable_subtotal(mm: MemberMonth) -> None:
    bill = price_member(mm)
    taxable = sum(line.amount for line in bill.lines if line.kind in TAXABLE)
    assert bill.vat == taxable * 10 // 100
    assert amounts(bill).get(LineKind.VAT, 0) == bill.vat


@given(member_months())
def test_amount_due_is_a_non_negative_multiple_of_ten(mm: MemberMonth) -> None:
    bill = price_member(mm)
    assert bill.amount_due >= 0 and bill.amount_due % 10 == 0
    assert -9 <= amounts(bill).get(LineKind.TRUNCATION, 0) <= 0


@given(member_months())
def test_same_result_on_every_call_and_no_zero_lines(mm: MemberMonth) -> None:
    assert price_member(mm) == price_member(mm)
    assert all(line.amount != 0 for line in price_member(mm).lines)
    assert all(isinstance(line.amount, int) for line in price_member(mm).lines)
