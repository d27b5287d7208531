"""The month report's figures, from the month's read model (`telebill/db/month_views.py`): a few
aggregate queries, none per bill."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from telebill.amount_figures import read_amount_figures
from telebill.channels import channels
from telebill.db import archive_store, month_views
from telebill.db.connect import DbConn
from telebill.db.partition_store import month_sizes
from telebill.month_report.figures import (
    ChannelDeliveries,
    DeadLetters,
    DeliveryView,
    Funnel,
    Latency,
    Refusals,
    SettlementView,
    StorageView,
)
from telebill.settlement_report import read_report

HISTOGRAM_STEP = 10_000  # won per bar
HISTOGRAM_TOP = 500_000  # bills from here on share the last bar
BIN_MINUTES_BELOW = timedelta(hours=6)  # deliveries spread over less: per minute, not per hour
EXAMPLES = 20
ZONE = "Asia/Seoul"  # the operator's hours: the charts' clock


def channel_labels() -> dict[str, str]:
    return {name: c.title for name, c in channels().items()}


async def read_settlement(conn: DbConn, month: date) -> SettlementView:
    record = await read_report(conn, month)
    spread = await read_amount_figures(conn, month)
    bins = await month_views.amount_histogram(conn, month, HISTOGRAM_TOP, HISTOGRAM_STEP)
    refused = await month_views.refusals_by_cause(conn, month, EXAMPLES)
    return SettlementView(
        record,
        spread,
        bins,
        [Refusals(reason, members, examples) for reason, members, examples in refused],
    )


async def read_delivery(conn: DbConn, month: date) -> DeliveryView:
    labels = channel_labels()
    bins = await month_views.delivered_per_minute(conn, month)
    minutes = 1
    if bins and bins[-1][0] - bins[0][0] >= BIN_MINUTES_BELOW:
        minutes, bins = 60, _per_hour(bins)
    return DeliveryView(
        bins,
        minutes,
        labels,
        await _funnel(conn, month, labels),
        await month_views.deferrals_by_kind(conn, month),
        await _latencies(conn, month),
        await _dead_letters(conn, month),
    )


def _per_hour(bins: list[tuple[datetime, str, int]]) -> list[tuple[datetime, str, int]]:
    hours: dict[tuple[datetime, str], int] = {}
    for at, channel, n in bins:
        key = (at.replace(minute=0), channel)
        hours[key] = hours.get(key, 0) + n
    return [(at, channel, n) for (at, channel), n in sorted(hours.items())]


def channel_order(channel: str) -> tuple[int, str]:
    """E-mail first (most chains' first channel), SMS last (every chain's last), the others
    between them by name."""
    return ({"email": 0, "sms": 2}.get(channel, 1), channel)


async def _funnel(conn: DbConn, month: date, labels: dict[str, str]) -> Funnel:
    """The funnel is the month's count that `telebill status` shows (one query for both), with
    each channel's deliveries split into first choices and fallbacks, and the e-mails chosen
    by whether the first try did it."""
    # `now` moves only the due and next-send figures, which the funnel does not show: the
    # month's start does (and keeps the report off the clock).
    status = await month_views.month_status(conn, month, datetime.combine(month, time(), UTC))
    by_channel = await month_views.deliveries_by_channel(conn, month)
    first = await month_views.email_first_try(conn, month)
    channels = [
        ChannelDeliveries(ch, labels.get(ch, ch), chosen, fallback)
        for ch, (chosen, fallback) in sorted(by_channel.items(), key=lambda c: channel_order(c[0]))
    ]
    return Funnel(
        first,
        by_channel.get("email", (0, 0))[0] - first,
        channels,
        status.dead_letter,
        status.published,
        status.scheduled,
    )


async def _latencies(conn: DbConn, month: date) -> list[Latency]:
    rows = await month_views.latency_percentiles(conn, month)
    return [
        Latency(r["what"], r["n"], *(max(0, round(r[k])) for k in ("p50", "p90", "p99", "top")))
        for r in rows
    ]


async def _dead_letters(conn: DbConn, month: date) -> list[DeadLetters]:
    rows = await month_views.dead_letters_by_cause(conn, month, EXAMPLES)
    return [DeadLetters(reason, letters, bills) for reason, letters, bills in rows]


async def scheduled_by_day(conn: DbConn, month: date) -> list[tuple[date, int]]:
    """Bills still to be sent, by the day (in Seoul) they are planned for."""
    return await month_views.scheduled_by_day(conn, month, ZONE)


async def read_storage(conn: DbConn, month: date) -> StorageView:
    archived = await archive_store.archives(conn, month)
    return StorageView(
        await month_sizes(conn, month),
        archived[0].location if archived else None,
        archived[0].bytes if archived else None,
    )
