"""The report's charts: matplotlib figures written as inline SVG, text kept as text.

Text stays text (`svg.fonttype: none`), so the page's own font draws the Korean labels, the
browser can search and print them, and each chart is a few kilobytes.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import RcKeyType

from telebill.month_report.figures import Funnel

SEOUL = ZoneInfo("Asia/Seoul")
COLORS = {
    "email": "#2563eb",
    "sms": "#16a34a",
    "alimtalk": "#ca8a04",
    "push": "#7c3aed",
    "other": "#0891b2",
    "dead": "#dc2626",
    "open": "#9ca3af",
}
STYLE: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",
    # Layout is measured with the first font that has the glyph: Noto CJK for Hangul.
    "font.family": ["Noto Sans CJK KR", "DejaVu Sans"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "axes.axisbelow": True,
    "grid.color": "#e5e7eb",
}
HORIZONTAL: dict[RcKeyType, Any] = {**STYLE, "axes.grid.axis": "x"}
# A machine without Noto CJK still draws the charts (the browser picks the font); matplotlib's
# complaint about each missing glyph would only bury the user's output.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

thousands = FuncFormatter(lambda v, _: f"{v:,.0f}")


def _counts(axis: Axis) -> None:
    """Whole numbers with separators: a chart of 2 bills has no tick at 0.5."""
    axis.set_major_locator(MaxNLocator(integer=True))
    axis.set_major_formatter(thousands)


def _svg(fig: Figure, name: str) -> str:
    """The figure as an <svg> element that scales with its container."""
    out = io.StringIO()
    with rc_context({"svg.hashsalt": name}):  # ids unique across the charts of one page
        fig.savefig(out, format="svg", bbox_inches="tight")
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    # The page sets the size; the viewBox keeps the proportions.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)


def _figure(width: float = 7.0, height: float = 2.6) -> tuple[Figure, Axes]:
    """A figure of the report's size, outside pyplot (no global state, nothing to close); the
    caller holds `rc_context(STYLE)` until `_svg`."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def amounts_histogram(bins: Sequence[tuple[int, int]], step: int, top: int) -> str:
    with rc_context(STYLE):
        fig, ax = _figure()
        ax.bar(
            [low / 1000 for low, _ in bins],
            [n for _, n in bins],
            width=step / 1000 * 0.9,
            align="edge",
            color=COLORS["email"],
        )
        ax.set_xlabel(f"청구 금액 (천 원; 마지막 막대: {top // 1000:,}천 원 이상) · amount due")
        ax.set_ylabel("청구서 수 · bills")
        _counts(ax.yaxis)
        ax.xaxis.set_major_formatter(thousands)
        return _svg(fig, "amounts")


def deliveries_over_time(
    per_bin: Sequence[tuple[datetime, str, int]],
    minutes: int,
    labels: Mapping[str, str],
    order: Callable[[str], Any] = str,
) -> str:
    """Stacked bars, one colour per channel that delivered (each one of the month, whatever the
    registry holds), in `order`."""
    with rc_context(STYLE):
        fig, ax = _figure()
        width = minutes / (24 * 60) * 0.9
        bottoms: dict[datetime, int] = {}
        for channel in sorted({c for _, c, _ in per_bin}, key=order):
            label = labels.get(channel, channel)
            rows = [(at, n) for at, c, n in per_bin if c == channel]
            xs = np.array([at.astimezone(SEOUL) for at, _ in rows])
            base = [bottoms.get(at, 0) for at, _ in rows]
            ax.bar(
                xs,
                [n for _, n in rows],
                width=width,
                bottom=base,
                align="edge",
                color=COLORS.get(channel, COLORS["other"]),
                label=label,
            )
            for at, n in rows:
                bottoms[at] = bottoms.get(at, 0) + n
        unit = "시간 hour" if minutes == 60 else "분 minute"
        ax.set_ylabel(f"전달 수 / {unit}")
        _counts(ax.yaxis)
        locator = mdates.AutoDateLocator(tz=SEOUL)  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(
            mdates.ConciseDateFormatter(locator, tz=SEOUL)  # type: ignore[no-untyped-call]
        )
        ax.set_xlabel("Asia/Seoul")
        if per_bin:
            # A run of a few minutes is a few bars, not one bar across the whole axis.
            step = timedelta(minutes=minutes)
            first, last = min(at for at, _, _ in per_bin), max(at for at, _, _ in per_bin)
            ax.set_xlim(
                mdates.date2num(first - step),  # type: ignore[no-untyped-call]
                mdates.date2num(max(last + 2 * step, first + 12 * step)),  # type: ignore[no-untyped-call]
            )
            ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncols=4)
        return _svg(fig, "deliveries")


def funnel_steps(f: Funnel) -> list[tuple[str, int, str]]:
    """The funnel's bars, top to bottom: (label, bills, colour). E-mail as the first channel by
    try, then each channel's first choices and fallbacks (a bar of fallbacks only where some
    fell back; SMS's both always), then what has not ended."""
    email = f.of("email")
    steps = [
        ("이메일 첫 시도 e-mail, first try", f.email_first_try, COLORS["email"]),
        ("이메일 재시도 후 e-mail after retries", f.email_after_retries, COLORS["email"]),
    ]
    if email.fallback:
        steps.append((f"{email.label} 대체 발송 fallback", email.fallback, COLORS["email"]))
    for c in f.channels:
        if c.channel in ("email", "sms"):
            continue
        color = COLORS.get(c.channel, COLORS["other"])
        steps.append((f"{c.label} 선택 chosen", c.chosen, color))
        if c.fallback:
            steps.append((f"{c.label} 대체 발송 fallback", c.fallback, color))
    sms = f.of("sms")
    steps += [
        ("SMS 선택 chosen", sms.chosen, COLORS["sms"]),
        ("SMS 대체 발송 SMS fallback", sms.fallback, COLORS["sms"]),
        ("실패 보관 dead letter", f.dead_letter, COLORS["dead"]),
        ("전송 중 in flight", f.in_flight, COLORS["open"]),
        ("예약됨 scheduled", f.scheduled, COLORS["open"]),
    ]
    return steps


def funnel(f: Funnel) -> str:
    steps = funnel_steps(f)
    with rc_context(HORIZONTAL):
        fig, ax = _figure(height=max(2.4, 0.22 * len(steps) + 0.4))
        labels = [s[0] for s in steps][::-1]
        values = [s[1] for s in steps][::-1]
        bars = ax.barh(labels, values, color=[s[2] for s in steps][::-1])
        total = f.total or 1
        ax.bar_label(bars, labels=[f" {v:,} ({v / total:.1%})" for v in values], fontsize=8)
        _counts(ax.xaxis)
        ax.set_xlim(0, max([*values, 1]) * 1.25)
        return _svg(fig, "funnel")


def scheduled_by_day(days: Sequence[tuple[date, int]]) -> str:
    with rc_context(STYLE):
        fig, ax = _figure(height=2.2)
        # One bar per day that has sends, labelled by its date: a date axis would zoom into the
        # hours of a single day.
        ax.bar(
            [f"{d:%m-%d}" for d, _ in days], [n for _, n in days], width=0.7, color=COLORS["open"]
        )
        ax.set_ylabel("예약 수 · scheduled")
        _counts(ax.yaxis)
        ax.set_xlim(-0.6, max(len(days), 10) - 0.4)  # a lone day is a bar, not the whole width
        if len(days) > 12:
            ax.tick_params(axis="x", labelrotation=90)
        return _svg(fig, "scheduled")
