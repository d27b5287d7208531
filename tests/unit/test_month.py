from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebill.domain.month import (
    FIRST_YEAR,
    LAST_YEAR,
    format_month,
    months_before,
    parse_month,
    previous_month,
)


def test_parses_a_month_to_its_first_day() -> None:
    assert parse_month("2026-11") == date(2026, 11, 1)
    assert parse_month(" 2027-01 ") == date(2027, 1, 1)


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "2026-11-01"]
)
def test_refuses_anything_but_yyyy_mm(bad: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month(bad)


@given(st.dates(min_value=date(FIRST_YEAR, 1, 1), max_value=date(LAST_YEAR, 12, 31)))
def test_format_and_parse_round_trip(day: date) -> None:
    month = day.replace(day=1)
    assert parse_month(format_month(month)) == month


@given(st.integers(0, 9999).filter(lambda y: not FIRST_YEAR <= y <= LAST_YEAR))
def test_a_month_outside_the_years_a_bill_can_have_is_refused_with_the_range(year: int) -> None:
    with pytest.raises(ValueError, match=f"between {FIRST_YEAR}-01 and {LAST_YEAR}-12"):
        parse_month(f"{year:04d}-12")


def test_months_before_cross_the_year_in_the_zone_of_the_schedule() -> None:
    # 2027-02-01 00:30 in Seoul is still 31 January in UTC
    now = datetime(2027, 1, 31, 15, 30, tzinfo=UTC)
    assert months_before(now, "Asia/Seoul", 2) == ["2027-01", "2026-12"]
    assert months_before(now, "UTC", 3) == ["2026-12", "2026-11", "2026-10"]
    assert months_before(now, "Asia/Seoul", 1) == [previous_month(now, "Asia/Seoul")]
