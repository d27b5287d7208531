"""One word per state: the values of every status column, of the notification workflows'
NotifyStatus search attribute and of a notification's purpose.

The values are the strings PostgreSQL holds, running workflows carry and Temporal's visibility
store indexes, so a member's value never changes; a StrEnum's value is that string. Each status
column has a CHECK listing these values (migration 0016, tests/integration/test_status_checks.py
compares them): a new member needs a migration.

A delivered status names its channel (DELIVERED_EMAIL, DELIVERED_SMS, …): `delivered_status`
makes it from the channel's name, and `telebill.channels.delivered_statuses()` lists those of the
registry, so a new channel module brings its status with it. The CHECK allows any channel name
(the rule of `member.bill_channel`), so a channel registered at run time (a plug-in) needs no
migration either.
"""

from __future__ import annotations

import re
from enum import StrEnum

from telebill.domain.chain import NAME_PATTERN

DELIVERED_PREFIX = "DELIVERED_"
# A delivered status: the prefix and a channel name (chain.NAME_PATTERN) in capitals.
DELIVERED_PATTERN = "^" + DELIVERED_PREFIX + NAME_PATTERN.removeprefix("^").upper()
DELIVERED = re.compile(DELIVERED_PATTERN)


def delivered_status(channel: str) -> str:
    """The status of a notification delivered on this channel: DELIVERED_EMAIL for "email"."""
    return f"{DELIVERED_PREFIX}{channel.upper()}"


def is_delivered(status: str | None) -> bool:
    return status is not None and status.startswith(DELIVERED_PREFIX)


class NotificationStatus(StrEnum):
    """`notification.status`: waiting for its outcome, or how it ended; besides these,
    `delivered_status(channel)` once a channel delivered it."""

    PENDING = "PENDING"  # planned or published, no outcome yet
    DEAD_LETTER = "DEAD_LETTER"  # every channel of its chain failed


class NotifyStatus(StrEnum):
    """A notification workflow's state: its query's `status` and, but for PLANNING, its
    NotifyStatus search attribute; besides these, `delivered_status(channel)` at the end."""

    PLANNING = "PLANNING"  # the query's only: before the first plan (never upserted)
    SCHEDULED = "SCHEDULED"
    PUBLISHED = "PUBLISHED"
    STUCK = "STUCK"  # published, no outcome in time: waiting on
    NO_SEND_WINDOW = "NO_SEND_WINDOW"  # no allowed instant (windows cover whole days)
    DEAD_LETTER = "DEAD_LETTER"


# The NotifyStatus values a workflow may show before its outcome, in the order they are shown.
NOTIFY_UNDERWAY = (
    NotifyStatus.SCHEDULED,
    NotifyStatus.PUBLISHED,
    NotifyStatus.STUCK,
    NotifyStatus.NO_SEND_WINDOW,
)


def is_terminal(status: str | None) -> bool:
    """Delivered on some channel, or a dead letter: how a bill's notification ends."""
    return is_delivered(status) or status == NotificationStatus.DEAD_LETTER


class SettlementStatus(StrEnum):
    """`settlement.status`: a month's settlement."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"


class BillStatus(StrEnum):
    """`bill.status`."""

    SETTLED = "SETTLED"
    NOTHING_DUE = "NOTHING_DUE"  # nothing to pay this month: no notification


class ReservationStatus(StrEnum):
    """`reserved_send.status`."""

    RESERVED = "RESERVED"  # not dispatched yet (or its dispatch failed: see last_error)
    DISPATCHED = "DISPATCHED"
    CANCELLED = "CANCELLED"


class Purpose(StrEnum):
    """`notification.purpose` (and `deferred_event.purpose`, and an event's): why a bill is
    sent. Besides MONTHLY_BILL, an admin's n-th resend: `resend_purpose(n)`, RESEND-n."""

    MONTHLY_BILL = "MONTHLY_BILL"


RESEND_PREFIX = "RESEND-"
RESEND_PATTERN = r"^RESEND-[1-9][0-9]*$"
RESEND = re.compile(RESEND_PATTERN)


def resend_purpose(n: int) -> str:
    """The purpose of a bill's n-th resend (n ≥ 1)."""
    if n < 1:
        raise ValueError(f"a resend is numbered from 1, not {n}")
    return f"{RESEND_PREFIX}{n}"


def is_purpose(value: str) -> bool:
    return value == Purpose.MONTHLY_BILL or RESEND.match(value) is not None
