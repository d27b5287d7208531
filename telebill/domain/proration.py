"""일할 계산: the days of a month a subscription was active, and an amount for those days.

The rule, stated once: for days a..b (inclusive) of a D-day month, an amount A (a monthly fee, a
discount, an allowance) is ⌊A·b/D⌋ − ⌊A·(a−1)/D⌋. Each piece is the amount's cumulative share up to
its last day minus the share before its first, each floored: a month cut into consecutive pieces
(a plan change on the 15th) pays exactly A in total, never a won more or less, and a full month
pays A itself. Device instalments are not pro-rated (the price is owed whatever the days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

SECONDS_PER_DAY = 86_400


@lru_cache(maxsize=64)  # a settlement asks it for every subscription of a million members
def month_end(month: date) -> date:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


@dataclass(frozen=True)
class Period:
    """Days first..last of one month (inclusive), out of the month's `month_days`."""

    first: date
    last: date
    month_days: int

    @property
    def days(self) -> int:
        return self.last.day - self.first.day + 1

    @property
    def whole_month(self) -> bool:
        return self.days == self.month_days

    @property
    def seconds(self) -> int:
        return self.days * SECONDS_PER_DAY

    def share(self, amount: int) -> int:
        """This period's part of a monthly `amount` (the rule in the module's docstring)."""
        return amount * self.last.day // self.month_days - amount * (self.first.day - 1) // (
            self.month_days
        )

    def label(self) -> str:
        """' (11/15~11/30, 16/30일)' for part of a month; '' for the whole of it."""
        if self.whole_month:
            return ""
        return f" ({self.first:%m/%d}~{self.last:%m/%d}, {self.days}/{self.month_days}일)"

    def snapshot(self) -> dict[str, object]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "days": self.days, "month_days": self.month_days}  # fmt: skip


def active_period(starts_on: date, ends_on: date | None, month: date) -> Period | None:
    """The days of `month` between `starts_on` and `ends_on` (both inclusive; None: open-ended),
    or None when the subscription was not active on any day of it."""
    end = month_end(month)
    first = max(starts_on, month)
    last = end if ends_on is None else min(ends_on, end)
    if first > last:
        return None
    return Period(first, last, end.day)
