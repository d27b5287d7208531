"""Send-window rules (design section 5): worked examples and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebill.domain.send_window import (
    NoAllowedInstant,
    Window,
    check_preferences,
    earliest_allowed,
    parse_hhmm,
    plan_send,
    scheduled_day,
)

SEOUL = ZoneInfo("Asia/Seoul")
NIGHT = Window(time(21), time(8), "Asia/Seoul", name="night")  # system blackout 21:00–08:00
NOV = date(2026, 11, 1)


def seoul(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL)


@pytest.mark.parametrize(
    ("month", "day", "expected"),
    [
        (date(2026, 11, 1), 10, date(2026, 12, 10)),
        (date(2027, 1, 1), 31, date(2027, 2, 28)),  # February has no 31st: its last day
        (date(2027, 12, 1), 31, date(2028, 1, 31)),
        (date(2028, 1, 1), 30, date(2028, 2, 29)),  # leap year
    ],
)
def test_preferred_day_is_clamped_to_the_month(month: date, day: int, expected: date) -> None:
    assert scheduled_day(month, day) == expected


def test_preferred_day_midnight_is_inside_the_night_blackout_so_it_goes_at_eight() -> None:
    at = plan_send(NOV, 10, "Asia/Seoul", seoul(2026, 12, 1, 2), [NIGHT]).send_at
    assert at == seoul(2026, 12, 10, 8).astimezone(UTC)


def test_quiet_hours_wrapping_midnight_push_it_further() -> None:
    quiet = Window(time(22), time(9), "Asia/Seoul", name="quiet")
    at = plan_send(NOV, 10, "Asia/Seoul", seoul(2026, 12, 1, 2), [NIGHT, quiet]).send_at
    assert at == seoul(2026, 12, 10, 9).astimezone(UTC)


def test_a_day_already_passed_means_the_next_allowed_instant_not_next_month() -> None:
    ready = seoul(2026, 12, 15, 22, 30)  # the 10th is gone, and 22:30 is inside the blackout
    at = plan_send(NOV, 10, "Asia/Seoul", ready, [NIGHT]).send_at
    assert at == seoul(2026, 12, 16, 8).astimezone(UTC)


def test_reservation_and_member_time_zone() -> None:
    reserved = seoul(2026, 12, 12, 14)
    at = plan_send(NOV, 10, "Asia/Seoul", seoul(2026, 12, 1), [NIGHT], reserved).send_at
    assert at == reserved
    # A member in Los Angeles: their 10th starts at 17:00 Seoul time, outside Seoul's blackout…
    at = plan_send(NOV, 10, "America/Los_Angeles", seoul(2026, 12, 1), [NIGHT]).send_at
    assert at == seoul(2026, 12, 10, 17).astimezone(UTC)
    # …but their own quiet hours (22:00–09:00 Los Angeles) hold it until 09:00 there, which is
    # 02:00 in Seoul, inside the blackout: so 08:00 Seoul (15:00 in Los Angeles).
    quiet_la = Window(time(22), time(9), "America/Los_Angeles")
    at = plan_send(NOV, 10, "America/Los_Angeles", seoul(2026, 12, 1), [NIGHT, quiet_la]).send_at
    assert at == seoul(2026, 12, 11, 8).astimezone(UTC)


def test_half_open_end_is_allowed_and_weekday_windows() -> None:
    assert earliest_allowed(seoul(2026, 12, 10, 8), [NIGHT]) == seoul(2026, 12, 10, 8)
    maintenance = Window(time(0), time(6), "Asia/Seoul", frozenset({7}), "sunday maintenance")
    sunday = seoul(2026, 12, 13, 3)  # 2026-12-13 is a Sunday
    assert earliest_allowed(sunday, [maintenance]) == seoul(2026, 12, 13, 6)
    assert earliest_allowed(sunday + timedelta(days=1), [maintenance]) == sunday + timedelta(days=1)


def test_preferences_leaving_no_time_in_a_day_are_refused() -> None:
    day = Window(time(8), time(21), "Asia/Seoul", name="quiet")
    with pytest.raises(NoAllowedInstant, match="no time left to send on Mondays"):
        check_preferences([NIGHT, day], "Asia/Seoul")
    check_preferences([NIGHT, Window(time(22), time(9), "Asia/Seoul")], "Asia/Seoul")


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="start ≠ end"):
        Window(time(9), time(9), "Asia/Seoul")


minutes = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
zones = st.sampled_from(["Asia/Seoul", "Asia/Tokyo", "Europe/London", "America/New_York"])


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start, end = draw(minutes), draw(minutes)
    if start == end:
        end = time((end.hour + 1) % 24, end.minute)
    days = draw(st.one_of(st.none(), st.frozensets(st.integers(1, 7), min_size=1)))
    return Window(start, end, draw(zones), days)


def blocked(t: datetime, ws: list[Window]) -> bool:
    return any(w.instance_around(t) is not None for w in ws)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(windows(), min_size=1, max_size=3),
    st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
)
def test_result_is_allowed_not_early_and_the_earliest(ws: list[Window], lower: datetime) -> None:
    try:
        t = earliest_allowed(lower, ws)
    except NoAllowedInstant:
        return
    assert t >= lower
    assert not blocked(t, ws)
    # Window edges are whole minutes, so checking each minute before it is exhaustive.
    probe = lower
    while probe < t:
        assert blocked(probe, ws), probe
        probe += timedelta(minutes=1)


def test_hhmm_is_parsed_strictly() -> None:
    assert parse_hhmm("21:00") == time(21) and parse_hhmm("00:05") == time(0, 5)
    for bad in ("24:00", "9:00", "21:60", "21-00", ""):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_hhmm(bad)


def test_a_plan_says_why_and_agrees_with_the_send_instant() -> None:
    quiet = Window(time(22), time(9), "Asia/Seoul", name="quiet hours")
    now = seoul(2026, 11, 25, 13)
    p = plan_send(NOV, 10, "Asia/Seoul", now, [NIGHT, quiet])
    assert p.send_at == earliest_allowed(seoul(2026, 12, 10), [NIGHT, quiet])
    assert p.send_at == seoul(2026, 12, 10, 9)
    assert "preferred day 10: 2026-12-10" in p.explain()
    assert "night 21:00–08:00" in p.explain() and "quiet hours 22:00–09:00" in p.explain()


def test_a_plan_for_a_passed_day_goes_now_and_says_so() -> None:
    now = seoul(2026, 12, 20, 14)
    p = plan_send(NOV, 10, "Asia/Seoul", now, [NIGHT])
    assert p.send_at == now and p.moved_by == ()
    assert "already passed" in p.because


def test_a_reservation_replaces_the_preferred_day_but_not_the_windows() -> None:
    now = seoul(2026, 11, 25, 13)
    early = plan_send(NOV, 28, "Asia/Seoul", now, [NIGHT], reserved_at=seoul(2026, 12, 2, 10))
    assert early.send_at == seoul(2026, 12, 2, 10)  # before the preferred 28th: the admin chose
    at_night = plan_send(NOV, 28, "Asia/Seoul", now, [NIGHT], reserved_at=seoul(2026, 12, 2, 23))
    assert at_night.send_at == seoul(2026, 12, 3, 8) and "reserved for" in at_night.because
    february = plan_send(date(2027, 1, 1), 31, "Asia/Seoul", now, [])
    assert february.send_at == seoul(2027, 2, 28) and "clamped" in february.because
