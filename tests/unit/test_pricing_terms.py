"""The rules of a real operator (design section 4): pro-rating by days, throttled plans, caps on
data overage, the micro-payment limit and usage no line can carry. Worked examples and
properties."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebill.domain.pricing import (
    LineKind,
    MemberMonth,
    PricingError,
    Product,
    Subscription,
    Usage,
    price_member,
)
from telebill.domain.proration import Period, active_period, month_end
from telebill.domain.usage_limits import max_data_mb
from tests.unit.test_pricing import COLORING, GALAXY

NOV = date(2026, 11, 1)
STANDARD = Product(
    106, "5G_STANDARD_110G", "plan", "5G 스탠다드 110GB", 62_727, data_mb=112_640,
    data_rate_mkrw_per_mb=22_530, throttle_kbps=5_000, max_speed_kbps=1_500_000,
)  # fmt: skip
PREMIUM = Product(
    107, "5G_PREMIUM_UNL", "plan", "5G 프리미엄 무제한", 81_818, max_speed_kbps=1_500_000
)
LTE = Product(
    104, "LTE_DATA_2_5G", "plan", "LTE 데이터 2.5GB", 36_364, data_mb=2_560,
    data_rate_mkrw_per_mb=22_530, max_speed_kbps=300_000,
)  # fmt: skip
BUDGET = Product(
    102, "LTE_BUDGET_1G", "plan", "알뜰 LTE 1GB", 13_545, data_mb=1_024, voice_sec=6_000,
    data_rate_mkrw_per_mb=22_530, voice_rate_mkrw_per_sec=1_980, max_speed_kbps=300_000,
)  # fmt: skip
SAFE = Product(
    202, "ADD_DATA_SAFE", "addon", "데이터 안심옵션", 4_545, throttle_kbps=400,
    data_overage_cap_krw=0,
)  # fmt: skip
CAP = Product(
    207, "ADD_DATA_CAP_20K", "addon", "데이터 요금 상한 2만원", 909, data_overage_cap_krw=18_182
)


def sub(sid: int, p: Product, starts: date = date(2018, 1, 1), **kw: object) -> Subscription:
    return Subscription(sid, p, p.id, starts, **kw)  # type: ignore[arg-type]


def by_kind(lines: tuple, kind: LineKind) -> list:  # type: ignore[type-arg]
    return [line for line in lines if line.kind == kind]


def test_a_plan_change_on_the_15th_gives_two_pro_rated_plan_lines() -> None:
    bill = price_member(
        MemberMonth(
            1,
            NOV,
            (
                sub(10, STANDARD, contract_discount=True, ends_on=date(2026, 11, 14)),
                sub(14, PREMIUM, starts=date(2026, 11, 15), contract_discount=True),
            ),
            (Usage(10, data_mb=60_000), Usage(14, data_mb=90_000)),
        )
    )
    fees = by_kind(bill.lines, LineKind.PLAN_FEE)
    assert [f.amount for f in fees] == [29_272, 43_637]  # ⌊62,727·14/30⌋; 81,818 − ⌊81,818·14/30⌋
    assert fees[0].label == "5G 스탠다드 110GB 기본료 (11/01~11/14, 14/30일)"
    assert fees[1].label == "5G 프리미엄 무제한 기본료 (11/15~11/30, 16/30일)"
    assert fees[0].snapshot["prorated"] == {
        "from": "2026-11-01", "to": "2026-11-14", "days": 14, "month_days": 30,
    }  # fmt: skip
    discounts = by_kind(bill.lines, LineKind.CONTRACT_DISCOUNT)
    assert [d.amount for d in discounts] == [-7_317, -10_909]  # of 15,681 and 20,454
    # 60,000 MB is past the 14 days' share of 110 GB (52,565 MB): slowed down, not charged.
    assert not by_kind(bill.lines, LineKind.DATA_OVERAGE)
    assert fees[0].snapshot["data"] == {
        "allowance_mb": 52_565,
        "used_mb": 60_000,
        "terms": "데이터 52,565MB 소진 후 5Mbps 속도 제한, 추가 요금 없음",
        "throttle_kbps": 5_000,
    }
    assert bill.vat == 5_468 and bill.amount_due == 60_150  # 54,683 + 5,468 = 60,151 → 60,150


def test_a_device_instalment_is_not_pro_rated_when_the_member_leaves_mid_month() -> None:
    left = date(2026, 11, 10)
    bill = price_member(
        MemberMonth(
            2,
            NOV,
            (
                sub(20, LTE, ends_on=left),
                sub(21, COLORING, ends_on=left),
                sub(27, GALAXY, starts=date(2026, 9, 14), installment_months=24),
            ),
        )
    )
    assert by_kind(bill.lines, LineKind.PLAN_FEE)[0].amount == 12_121  # ⌊36,364·10/30⌋
    assert by_kind(bill.lines, LineKind.ADDON_FEE)[0].amount == 1_000
    assert by_kind(bill.lines, LineKind.DEVICE_INSTALLMENT)[0].amount == 48_125  # the whole one


def test_data_safe_option_waives_the_overage_of_a_plan_that_charges_it() -> None:
    usage = (Usage(30, data_mb=3_560),)  # 1,000 MB past 2.5 GB: 22,530원 at 22.53원/MB
    without = price_member(MemberMonth(3, NOV, (sub(30, LTE),), usage))
    assert by_kind(without.lines, LineKind.DATA_OVERAGE)[0].amount == 22_530
    bill = price_member(MemberMonth(3, NOV, (sub(30, LTE), sub(31, SAFE)), usage))
    assert not by_kind(bill.lines, LineKind.DATA_OVERAGE)
    data = by_kind(bill.lines, LineKind.PLAN_FEE)[0].snapshot["data"]
    assert data["capped_by"] == "ADD_DATA_SAFE" and data["uncapped"] == 22_530
    assert data["terms"].endswith("데이터 안심옵션: 400kbps 속도 제한, 초과 요금 22,530원 면제")


def test_a_cap_add_on_limits_the_month_s_data_overage() -> None:
    bill = price_member(
        MemberMonth(4, NOV, (sub(40, BUDGET), sub(41, CAP)), (Usage(40, data_mb=3_048),))
    )
    [line] = by_kind(bill.lines, LineKind.DATA_OVERAGE)
    assert line.amount == 18_182  # 2,024 MB × 22.53 = 45,600원, capped
    assert line.snapshot["uncapped"] == 45_600 and line.snapshot["cap"] == 18_182


@pytest.mark.parametrize(
    ("mm", "reason"),
    [
        (
            MemberMonth(5, NOV, (sub(1, LTE),), (Usage(1, micro_payment_krw=300_001),), 300_000),
            "micro-payments of 300,001원 over the member's monthly limit of 300,000원",
        ),
        (
            MemberMonth(5, NOV, (sub(1, LTE),), (Usage(1, micro_payment_krw=1),), 0),
            "over the member's monthly limit of 0원",
        ),
        (  # 300 Mbps for 30 days carries 92,697,143 MB
            MemberMonth(5, NOV, (sub(1, LTE),), (Usage(1, data_mb=10**9),)),
            "more than the 92,697,143 MB its speeds allow in 30 days",
        ),
        (  # 110 GB in 630 s at 1.5 Gbps, then 5 Mbps for the rest of the 30 days
            MemberMonth(5, NOV, (sub(1, STANDARD),), (Usage(1, data_mb=2_000_000),)),
            "more than the 1,657,216 MB its speeds allow",
        ),
        (
            MemberMonth(5, NOV, (sub(1, LTE),), (Usage(1, voice_sec=2_592_001),)),
            "more than the 2,592,000 s of its 30 active days",
        ),
        (
            MemberMonth(5, NOV, (sub(1, LTE, ends_on=date(2026, 10, 31)),), (Usage(1, data_mb=5),)),
            "usage of subscription 1 in a month it was not active",
        ),
    ],
)
def test_usage_no_line_could_carry_or_over_the_limit_is_refused(
    mm: MemberMonth, reason: str
) -> None:
    with pytest.raises(PricingError, match=reason):
        price_member(mm)


def test_the_limit_itself_and_a_full_speed_month_are_billed() -> None:
    mm = MemberMonth(6, NOV, (sub(1, LTE),), (Usage(1, micro_payment_krw=300_000),), 300_000)
    assert by_kind(price_member(mm).lines, LineKind.MICRO_PAYMENT)[0].amount == 300_000
    most = MemberMonth(6, NOV, (sub(1, STANDARD),), (Usage(1, data_mb=1_657_216),))
    assert not by_kind(price_member(most).lines, LineKind.DATA_OVERAGE)


def test_a_line_slowed_by_the_data_safe_option_cannot_carry_what_its_top_speed_could() -> None:
    """데이터 안심옵션 slows the line to 400 kbps past its allowance: 2.5 GB at 300 Mbps, then
    400 kbps for the rest of the 30 days is 2,560 + ⌊(2,592,000 − 71.6) s · 50,000 B/s / MB⌋."""
    period = active_period(date(2018, 1, 1), None, NOV)
    assert period is not None
    most = max_data_mb(period, 300_000, 2_560, 400)
    assert most == 126_152
    refused = MemberMonth(7, NOV, (sub(1, LTE), sub(2, SAFE)), (Usage(1, data_mb=most + 1),))
    with pytest.raises(PricingError, match=f"more than the {most:,} MB its speeds allow"):
        price_member(refused)
    billed = MemberMonth(7, NOV, (sub(1, LTE), sub(2, SAFE)), (Usage(1, data_mb=most),))
    assert not by_kind(price_member(billed).lines, LineKind.DATA_OVERAGE)
    # the month of 95.8 million MB the issue found accepted on such a line
    huge = MemberMonth(7, NOV, (sub(1, LTE), sub(2, SAFE)), (Usage(1, data_mb=95_800_000),))
    with pytest.raises(PricingError, match="its speeds allow"):
        price_member(huge)


def test_an_option_held_for_part_of_the_month_leaves_the_top_speed() -> None:
    """Held from the 15th only: the first 14 days could have run at 300 Mbps, so the check
    allows what the top speed allows (and the cap, held on a day of the month, waives the
    overage: the rule in the README)."""
    late = sub(2, SAFE, starts=date(2026, 11, 15))
    mm = MemberMonth(8, NOV, (sub(1, LTE), late), (Usage(1, data_mb=1_000_000),))
    bill = price_member(mm)
    assert not by_kind(bill.lines, LineKind.DATA_OVERAGE)
    assert (
        by_kind(bill.lines, LineKind.PLAN_FEE)[0].snapshot["data"]["capped_by"] == "ADD_DATA_SAFE"
    )


def test_a_cap_without_a_throttle_leaves_the_top_speed() -> None:
    mm = MemberMonth(9, NOV, (sub(1, LTE), sub(2, CAP)), (Usage(1, data_mb=1_000_000),))
    [line] = by_kind(price_member(mm).lines, LineKind.DATA_OVERAGE)
    assert line.amount == 18_182


# -- properties ---------------------------------------------------------------------------------

months = st.dates(date(2020, 1, 1), date(2030, 12, 1)).map(lambda d: d.replace(day=1))


@given(months, st.integers(0, 10**7), st.lists(st.integers(1, 30), max_size=6))
def test_pro_rated_pieces_of_a_month_add_up_to_the_full_amount(
    month: date, amount: int, cuts: list[int]
) -> None:
    """Any cut of a month into consecutive periods (plan changes) pays exactly the monthly
    amount, and each piece lies between 0 and it."""
    last = month_end(month).day
    days = sorted({c for c in cuts if c < last})
    bounds = [0, *days, last]
    pieces = [
        Period(month.replace(day=a + 1), month.replace(day=b), last).share(amount)
        for a, b in itertools.pairwise(bounds)
    ]
    assert sum(pieces) == amount
    assert all(0 <= p <= amount for p in pieces)


@given(months, st.dates(date(2019, 1, 1), date(2031, 12, 31)), st.integers(0, 400))
def test_an_active_period_lies_inside_the_month_and_the_subscription(
    month: date, starts: date, length: int
) -> None:
    ends = starts + timedelta(days=length)
    period = active_period(starts, ends, month)
    if period is None:
        assert ends < month or starts > month_end(month)
    else:
        assert month <= period.first <= period.last <= month_end(month)
        assert starts <= period.first and period.last <= ends


plans = st.builds(
    Product,
    id=st.integers(100, 199),
    code=st.just("P"),
    kind=st.just("plan"),
    name=st.just("요금제"),
    monthly_fee=st.integers(0, 200_000),
    data_mb=st.one_of(st.none(), st.integers(0, 200_000)),
    data_rate_mkrw_per_mb=st.integers(0, 50_000),
    throttle_kbps=st.one_of(st.none(), st.sampled_from([400, 1_000, 5_000])),
)
caps = st.builds(
    Product,
    id=st.integers(200, 299),
    code=st.just("CAP"),
    kind=st.just("addon"),
    name=st.just("상한"),
    monthly_fee=st.integers(0, 10_000),
    data_overage_cap_krw=st.integers(0, 50_000),
)


@st.composite
def changing_months(draw: st.DrawFn) -> tuple[MemberMonth, Product | None]:
    """A member who may change plan on some day of the month and may hold a cap add-on."""
    month = draw(months)
    last = month_end(month)
    first_plan, second_plan = draw(plans), draw(plans)
    change = draw(st.one_of(st.none(), st.integers(2, last.day)))
    subs = [sub(1, first_plan)]
    if change is not None:
        subs = [
            sub(1, first_plan, ends_on=month.replace(day=change - 1)),
            sub(2, second_plan, starts=month.replace(day=change)),
        ]
    cap = draw(st.one_of(st.none(), caps))
    if cap is not None:
        subs.append(sub(3, cap, starts=draw(st.dates(date(2018, 1, 1), last))))
    usage = tuple(Usage(s.id, data_mb=draw(st.integers(0, 10**6))) for s in subs[:2])
    return MemberMonth(9, month, tuple(subs), usage), cap


@given(changing_months())
def test_a_throttled_plan_never_charges_data_overage(
    case: tuple[MemberMonth, Product | None],
) -> None:
    mm, _ = case
    bill = price_member(mm)
    throttled = {s.id for s in mm.subscriptions if s.product and s.product.throttle_kbps}
    assert not [
        line
        for line in by_kind(bill.lines, LineKind.DATA_OVERAGE)
        if line.snapshot["subscription_id"] in throttled
    ]


@given(changing_months())
def test_a_cap_is_never_exceeded(case: tuple[MemberMonth, Product | None]) -> None:
    mm, cap = case
    bill = price_member(mm)
    charged = sum(line.amount for line in by_kind(bill.lines, LineKind.DATA_OVERAGE))
    if cap is not None:
        assert cap.data_overage_cap_krw is not None
        assert charged <= cap.data_overage_cap_krw
    assert bill.amount_due == sum(line.amount for line in bill.lines)
    assert bill.amount_due % 10 == 0 and bill.amount_due >= 0


@given(
    st.integers(1, 31),
    st.integers(1, 10_000_000),
    st.one_of(st.none(), st.integers(0, 10**7)),
    st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_the_most_a_line_can_carry_is_the_exact_figure_floored(
    days: int, top: int, allowance: int | None, throttle: int | None
) -> None:
    """The integer formula against the same physics in exact fractions."""
    period = Period(date(2026, 1, 1), date(2026, 1, days), 31)
    seconds, mb = days * 86_400, 2**20
    full = Fraction(top * 125 * seconds, mb)
    if allowance is None or throttle is None or allowance >= full:
        expected = full
    else:
        at_full = Fraction(allowance * mb, top * 125)
        expected = allowance + (seconds - at_full) * throttle * 125 / mb
    assert max_data_mb(period, top, allowance, throttle) == int(expected)
