"""The month report as one HTML page with nothing to fetch: styles inline, charts inline SVG."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from telebill.domain.month import parse_month
from telebill.month_report import charts
from telebill.month_report.figures import MonthView
from telebill.month_report.queries import (
    EXAMPLES,
    HISTOGRAM_STEP,
    HISTOGRAM_TOP,
    channel_order,
)
from telebill.rendering.render import month_ko, won
from telebill.settlement_report import KIND_LABELS


def _duration(ms: int) -> str:
    return f"{ms:,} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(["j2"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(won=won, num=lambda n: f"{n:,}", duration=_duration)


def render_page(view: MonthView) -> str:
    r = view.settlement.record
    totals = [(str(k), label, r.totals[k]) for k, label in KIND_LABELS.items() if k in r.totals]
    svgs = {
        "amounts": charts.amounts_histogram(
            view.settlement.histogram, HISTOGRAM_STEP, HISTOGRAM_TOP
        ),
        "deliveries": charts.deliveries_over_time(
            view.delivery.per_bin, view.delivery.bin_minutes, view.delivery.labels, channel_order
        ),
        "funnel": charts.funnel(view.delivery.funnel),
        "scheduled": charts.scheduled_by_day(view.open.scheduled_by_day),
    }
    return ENV.get_template("page.html.j2").render(
        v=view,
        month_ko=month_ko(parse_month(view.month)),
        totals=totals,
        charts=svgs,
        examples=EXAMPLES,
    )
