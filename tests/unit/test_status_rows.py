"""`telebill status` counts every channel in both columns (issue 38: the Temporal column of
"delivered by another channel" was empty though Temporal counts DELIVERED_ALIMTALK and
DELIVERED_PUSH)."""

from __future__ import annotations

from starters.status_cmd import status_rows
from telebill.db.month_views import MonthStatus

DEMO = MonthStatus(
    month="2026-11", bills=2_000, not_scheduled=0, scheduled=9, workflow_later=0, published=0,
    deferred=0, delivered_email=582, delivered_sms=191, dead_letter=0, due=0, next_send_at=None,
    no_time_to_send=0, delivered_other=1_218, delivered_by={"email": 582, "sms": 191,
    "alimtalk": 962, "push": 256},
)  # fmt: skip
TEMPORAL = {
    "SCHEDULED": 9, "PUBLISHED": 0, "DELIVERED_EMAIL": 582, "DELIVERED_SMS": 191,
    "DELIVERED_ALIMTALK": 961, "DELIVERED_PUSH": 256, "DEAD_LETTER": 0, "STUCK": 0,
    "NO_SEND_WINDOW": 0,
}  # fmt: skip


def rows(temporal: dict[str, int] | None) -> dict[str, tuple[str, str]]:
    return {label: (db, t) for label, db, t in status_rows(DEMO, temporal)}


def test_other_channels_are_counted_in_temporal_too() -> None:
    shown = rows(TEMPORAL)
    assert shown["delivered by another channel"] == ("1,218", "1,217")
    assert shown["  of which alimtalk"] == ("962", "961")  # a difference shows where it is
    assert shown["  of which push"] == ("256", "256")
    assert shown["delivered by e-mail"] == ("582", "582")
    assert shown["stuck"] == ("", "0")


def test_without_temporal_its_column_is_empty() -> None:
    shown = rows(None)
    assert shown["delivered by another channel"] == ("1,218", "")
    assert shown["  of which alimtalk"] == ("962", "")
    assert all(t == "" for _, t in shown.values())


def test_a_channel_only_temporal_knows_still_gets_its_row() -> None:
    shown = rows(TEMPORAL | {"DELIVERED_FAX": 3})
    assert shown["  of which fax"] == ("0", "3")
    assert shown["delivered by another channel"] == ("1,218", "1,220")
