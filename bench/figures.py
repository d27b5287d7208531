"""What a benchmark measured, in a form `make bench` can put in its report.

Each benchmark still prints its figures for a reader; it also `record`s each one. When
`BENCH_FIGURES` names a file (as `python -m bench.all` sets it), the figure is appended to it
as one JSON line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Goal:
    """The value (or, with of="ratio", the value over its baseline) lies in [low, high]; either
    end may be open."""

    low: float | None = None
    high: float | None = None
    of: str = "value"  # or "ratio"

    def met(self, value: float, ratio: float | None) -> bool | None:
        seen = value if self.of == "value" else ratio
        if seen is None:
            return None
        return (self.low is None or seen >= self.low) and (self.high is None or seen <= self.high)

    def text(self, unit: str) -> str:
        def show(x: float) -> str:
            return f"{x:g}×" if self.of == "ratio" else f"{x:,g}"

        what = " the baseline" if self.of == "ratio" else f" {unit}"
        if self.low is not None and self.high is not None:
            return f"{show(self.low)}–{show(self.high)}{what}"
        if self.low is not None:
            return f"≥ {show(self.low)}{what}"
        return f"≤ {show(self.high or 0)}{what}"


@dataclass(frozen=True)
class Figure:
    bench: str  # the module under bench/
    name: str  # what was measured, as a reader would say it
    value: float
    unit: str
    baseline: float | None = None  # the same work done the simplest way, in the same run
    baseline_name: str | None = None
    goal: Goal | None = None
    note: str | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def met(self) -> bool | None:
        return self.goal.met(self.value, self.ratio) if self.goal else None

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["goal"] = self.goal.text(self.unit) if self.goal else None
        return data | {"ratio": self.ratio, "met": self.met}


def record(figure: Figure) -> Figure:
    target = os.environ.get("BENCH_FIGURES")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps(figure.as_json(), ensure_ascii=False, default=str) + "\n")
    return figure
