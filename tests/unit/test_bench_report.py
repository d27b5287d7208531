"""The benchmark report: goals judged on the value or on the ratio to the baseline, and the
figures written beside their baselines with the machine and the date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.figures import Figure, Goal, record
from bench.report import BenchRun, write


@pytest.mark.parametrize(
    ("goal", "value", "baseline", "met", "text"),
    [
        (Goal(low=3_000), 3_132, 100_000, True, "≥ 3,000 e-mails/s"),
        (Goal(low=3_000), 2_364, 100_000, False, "≥ 3,000 e-mails/s"),
        (Goal(high=3.0, of="ratio"), 204.7, 90.4, True, "≤ 3× the baseline"),
        (Goal(high=3.0, of="ratio"), 300.0, 90.4, False, "≤ 3× the baseline"),
        (Goal(60_000, 100_000), 82_315, None, True, "60,000–100,000 e-mails/s"),
        (Goal(60_000, 100_000), 104_000, None, False, "60,000–100,000 e-mails/s"),
        (Goal(low=0.9, of="ratio"), 1_000, None, None, "≥ 0.9× the baseline"),  # no baseline
    ],
)
def test_a_goal_is_judged_on_the_value_or_the_ratio(
    goal: Goal, value: float, baseline: float | None, met: bool | None, text: str
) -> None:
    figure = Figure("consumers", "x", value, "e-mails/s", baseline, "raw loop", goal)
    assert figure.met is met
    assert goal.text("e-mails/s") == text


def test_the_report_puts_each_figure_beside_its_baseline_and_says_what_missed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tmp_path / "figures.jsonl"
    monkeypatch.setenv("BENCH_FIGURES", str(lines))
    record(Figure("settle", "settlement", 204.7, "s", 90.4, "raw COPY", Goal(high=3, of="ratio")))
    record(Figure("consumers", "e-mail", 2_364.0, "e-mails/s", 95_697.0, "raw loop", Goal(3_000)))
    figures = [json.loads(line) for line in lines.read_text().splitlines()]
    runs = [
        BenchRun("settle", "python -m bench.settle", 300.0, 0, figures[:1]),
        BenchRun("consumers", "python -m bench.consumers", 200.0, 0, figures[1:]),
        BenchRun("month", "python -m bench.month", 5.0, 1, []),
    ]
    md = write(runs, datetime(2026, 11, 27, tzinfo=UTC), 50_000, tmp_path, "abc1234").read_text()
    assert "| settlement | 205 s | 90.4 (raw COPY) | 2.26× | ≤ 3× the baseline | yes |" in md
    assert (
        "| e-mail | 2,364 e-mails/s | 95,697 (raw loop) | 0.02× | ≥ 3,000 e-mails/s | **no** |"
        in md
    )
    assert "## month — **failed (exit code 1)**" in md
    assert "cores" in md and "2026-11-27T00:00:00+00:00" in md and "commit abc1234" in md
    data = json.loads((tmp_path / "bench-report.json").read_text())
    assert data["machine"]["cores"] >= 1 and data["bench_members"] == 50_000
    assert data["benchmarks"][0]["figures"][0]["met"] is True
