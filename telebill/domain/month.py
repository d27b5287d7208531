"""Billing months: the first day of a calendar month, written YYYY-MM."""

from __future__ import annotations

import re
from datetime import date

_MONTH = re.compile(r"(\d{4})-(\d{2})")


def parse_month(text: str) -> date:
    """'2026-11' → date(2026, 11, 1); anything else raises ValueError saying what is expected."""
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1900:
        raise ValueError(f"month must be YYYY-MM (e.g. 2026-11), got {text!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def format_month(month: date) -> str:
    return f"{month:%Y-%m}"
