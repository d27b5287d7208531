"""`telebill schedules install` creates, then updates, the monthly settlement Schedule."""

from __future__ import annotations

from temporalio.client import Client

from telebill.config import Settings
from telebill.service.schedules import DISPATCH_SCHEDULE_ID, SCHEDULE_ID
from tests.helpers import run_cli


async def test_install_creates_or_updates_the_schedule(settings: Settings) -> None:
    first = run_cli("schedules", "install", "--at", "03:30", "--time-zone", "Asia/Tokyo")
    assert first.returncode == 0, first.stderr
    assert SCHEDULE_ID in first.stdout
    client = await Client.connect(settings.temporal_target)
    described = await client.get_schedule_handle(SCHEDULE_ID).describe()
    spec = described.schedule.spec
    assert spec.time_zone_name == "Asia/Tokyo"
    [calendar] = spec.calendars
    assert [r.start for r in calendar.day_of_month] == [1]
    assert ([r.start for r in calendar.hour], [r.start for r in calendar.minute]) == ([3], [30])

    again = run_cli("schedules", "install")  # back to the defaults: 02:00 Asia/Seoul
    assert again.returncode == 0, again.stderr
    assert "updated" in again.stdout
    spec = (await client.get_schedule_handle(SCHEDULE_ID).describe()).schedule.spec
    assert spec.time_zone_name == "Asia/Seoul"
    assert [r.start for r in spec.calendars[0].hour] == [2]
    daily = (await client.get_schedule_handle(DISPATCH_SCHEDULE_ID).describe()).schedule
    assert [r.start for r in daily.spec.calendars[0].hour] == [9]
    assert daily.spec.calendars[0].day_of_month[0].end == 31  # every day


def test_bad_time_or_zone_is_refused_in_one_line() -> None:
    for args, message in (
        (["--at", "25:00"], "--at must be HH:MM"),
        (["--dispatch-at", "9:00"], "--dispatch-at must be HH:MM"),
        (["--time-zone", "Mars/Base"], "unknown time zone 'Mars/Base'"),
    ):
        result = run_cli("schedules", "install", *args)
        assert result.returncode != 0
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_report_of_a_month_never_settled_says_so() -> None:
    result = run_cli("report", "--month", "1999-01")
    assert result.returncode != 0
    assert "1999-01 has not been settled" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
