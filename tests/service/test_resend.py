"""A resend request: the next RESEND-n of the bill, on a channel that starts a chain; two
requests at once are one resend."""

from __future__ import annotations

from datetime import date

import pytest

from telebill.errors import NotFound, TelebillError
from telebill.service import notify
from tests.fakes import FakeDeps, FakeNotifications, FakeTemporal, fake_stores


def deps_with(temporal: FakeTemporal, resends: int = 0) -> FakeDeps:
    notifications = FakeNotifications(bills={7: (3, date(2026, 11, 1))}, resends={7: resends})
    return FakeDeps(stores=fake_stores(notifications=notifications), temporal=temporal)


async def test_the_first_resend_is_resend_1_on_the_channel_asked() -> None:
    temporal = FakeTemporal()
    resent = await notify.resend(deps_with(temporal), 7, "sms")
    assert (resent.bill_id, resent.purpose, resent.channel) == (7, "RESEND-1", "sms")
    params, memo = temporal.resends[resent.workflow_id]
    assert (params.bill_id, params.member_id, params.month) == (7, 3, "2026-11")
    assert (params.purpose, params.channel, memo) == ("RESEND-1", "sms", {"channel": "sms"})
    assert resent.workflow_id.endswith("resend-1")


async def test_after_two_resends_the_next_is_resend_3() -> None:
    resent = await notify.resend(deps_with(FakeTemporal(), resends=2), 7)
    assert (resent.purpose, resent.channel) == ("RESEND-3", "email")


async def test_two_requests_at_once_are_one_resend_told_the_first_ones_channel() -> None:
    temporal = FakeTemporal()
    deps = deps_with(temporal)
    first = await notify.resend(deps, 7, "email")
    second = await notify.resend(deps, 7, "sms")  # its row not counted yet: the same RESEND-1
    assert second.workflow_id == first.workflow_id
    assert (second.purpose, second.channel) == ("RESEND-1", "email")
    assert len(temporal.resends) == 1


async def test_refusals() -> None:
    deps = deps_with(FakeTemporal())
    with pytest.raises(NotFound, match="no bill 8"):
        await notify.resend(deps, 8)
    with pytest.raises(TelebillError, match=r"chains \(email, sms\)"):
        await notify.resend(deps, 7, "fax")
