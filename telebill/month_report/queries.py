"""The month report's figures, from the month's read model (`telebill/db/month_views.py`): a few
aggregate queries, none per bill."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from telebill.amount_figures import read_amount_figures
from telebill.db import month_views
from telebill.db.connect import DbConn
from telebill.month_report.figures import (
    DeadLetters,
    DeliveryView,
    Funnel,
    Latency,
    Refusals,
    SettlementView,
)
from telebill.settlement_report import read_report

HISTOGRAM_STEP = 10_000  # won per bar
HISTOGRAM_TOP = 500_000  # bills from here on share the last bar
BIN_MINUTES_BELOW = timedelta(hours=6)  # deliveries spread over less: per minute, not per hour
EXAMPLES = 20
ZONE = "Asia/Seoul"  # the operator's hours: the charts' clock
FUNNEL_OWN_CHANNELS = ("email", "sms")  # the funnel's own bars; the others are listed apart


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
    bins = await month_views.delivered_per_minute(conn, month)
    minutes = 1
    if bins and bins[-1][0] - bins[0][0] >= BIN_MINUTES_BELOW:
        minutes, bins = 60, _per_hour(bins)
    return DeliveryView(
        bins,
        minutes,
        await _funnel(conn, month),
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


async def _funnel(conn: DbConn, month: date) -> Funnel:
    """The funnel is the month's count that `telebill status` shows (one query for both), with
    the e-mail deliveries split by whether the first try did it."""
    # `now` moves only the due and next-send figures, which the funnel does not show: the
    # month's start does (and keeps the report off the clock).
    status = await month_views.month_status(conn, month, datetime.combine(month, time(), UTC))
    first = await month_views.email_first_try(conn, month)
    others = sorted(
        (
            (channel, n)
            for channel, n in status.delivered_by.items()
            if channel not in FUNNEL_OWN_CHANNELS
        ),
        key=lambda c: (-c[1], c[0]),
    )
    return Funnel(
        first,
        status.delivered_email - first,
        status.delivered_sms,
        status.dead_letter,
        status.published,
        status.scheduled,
        other_channels=dict(others),
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
