"""The hard dates of the dated runs are each the next instant of its kind, whatever today is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.clock import BERLIN, SEOUL, hard_dates

TODAYS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@given(TODAYS)
def test_every_hard_date_is_ahead_and_of_its_kind(now: datetime) -> None:
    dates = hard_dates(now)
    assert all(instant > now for instant in dates.values()), dates
    end = dates["month-end-seoul"].astimezone(SEOUL)
    assert (end + timedelta(minutes=1)).day == 1 and (end.hour, end.minute) == (23, 59)
    assert end - now < timedelta(days=32)
    leap = dates["leap-day"].astimezone(SEOUL)
    assert (leap.month, leap.day) == (2, 29) and leap - now < timedelta(days=366 * 8 + 1)
    new_year = dates["new-year"]
    assert new_year.astimezone(SEOUL).strftime("%m-%d %H:%M") == "01-01 00:30"
    assert new_year.astimezone(UTC).strftime("%m-%d") == "12-31"
    assert new_year - now <= timedelta(days=366)
    night = dates["eu-dst-night"]
    assert (
        night.astimezone(BERLIN).utcoffset()
        != (night + timedelta(hours=1)).astimezone(BERLIN).utcoffset()
    ), "Europe changes its clocks within the hour"
    assert night - now < timedelta(days=7 * 31)
    assert dates["years-ahead"].year == now.astimezone(SEOUL).year + 5
