"""One word per state: the delivered statuses come from the channel registry (a new channel
brings its own), and the words agree with the patterns that check them elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from telebill.channels import channels, delivered_statuses, register, unregister
from telebill.channels.sms import SmsChannel
from telebill.domain.chain import NAME
from telebill.domain.statuses import (
    DELIVERED,
    RESEND,
    NotificationStatus,
    NotifyStatus,
    Purpose,
    delivered_status,
    is_purpose,
    is_terminal,
    resend_purpose,
)
from telebill.messaging.events import PURPOSE_PATTERN
from telebill.notify_search import notify_statuses


class Fax(SmsChannel):
    name = "fax"


@pytest.fixture
def fax() -> Iterator[None]:
    register(Fax())
    yield
    unregister("fax")


def test_the_shipped_channels_statuses_are_the_words_there_always_were() -> None:
    assert delivered_statuses() == [
        "DELIVERED_EMAIL",
        "DELIVERED_SMS",
        "DELIVERED_ALIMTALK",
        "DELIVERED_PUSH",
    ]
    assert notify_statuses() == [
        "SCHEDULED",
        "PUBLISHED",
        "DELIVERED_EMAIL",
        "DELIVERED_SMS",
        "DELIVERED_ALIMTALK",
        "DELIVERED_PUSH",
        "DEAD_LETTER",
        "STUCK",
        "NO_SEND_WINDOW",
    ]
    assert all(type(s) is str for s in notify_statuses())


@pytest.mark.usefixtures("fax")
def test_a_new_channel_brings_its_delivered_status() -> None:
    assert "DELIVERED_FAX" in delivered_statuses()
    assert "DELIVERED_FAX" in notify_statuses()
    assert is_terminal("DELIVERED_FAX")


def test_every_channel_name_makes_a_status_the_check_allows() -> None:
    for name in [*channels(), "a1", "x_" + "y" * 29]:
        assert NAME.match(name)
        assert DELIVERED.match(delivered_status(name))
    assert not DELIVERED.match("DELIVERED_")
    assert not DELIVERED.match(delivered_status("x") + "-")


def test_terminal_statuses() -> None:
    assert is_terminal(NotificationStatus.DEAD_LETTER)
    assert is_terminal(delivered_status("email"))
    for status in [None, NotificationStatus.PENDING, *NotifyStatus]:
        if status != NotifyStatus.DEAD_LETTER:
            assert not is_terminal(status)


def test_purposes() -> None:
    assert resend_purpose(3) == "RESEND-3"
    with pytest.raises(ValueError):
        resend_purpose(0)
    for n in [1, 9, 10, 999_999]:
        assert is_purpose(resend_purpose(n)) and RESEND.match(resend_purpose(n))
        assert re.match(PURPOSE_PATTERN, resend_purpose(n))
    assert is_purpose(Purpose.MONTHLY_BILL) and re.match(PURPOSE_PATTERN, Purpose.MONTHLY_BILL)
    for word in ["RESEND-0", "RESEND-", "RESEND-01", "MONTHLY", "monthly_bill"]:
        assert not is_purpose(word)
        assert not re.match(PURPOSE_PATTERN, word)
