"""The benchmark report `make bench` writes: bench-report.md for people, bench-report.json for
tools. Each figure beside its baseline from the same run, the ratio, the goal and whether it
was met; the machine and the date, since figures from another box or day do not compare."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BenchRun:
    bench: str
    command: str
    seconds: float
    exit_code: int
    figures: list[dict[str, Any]]


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" (with uncommitted changes)" if git("status", "--porcelain", "--", ".") else "")


def number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}"


def met_mark(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[met]


def write(
    runs: list[BenchRun], started: datetime, members: int, folder: Path, at_commit: str
) -> Path:
    m = machine()
    seconds = sum(r.seconds for r in runs)
    info: dict[str, Any] = {
        "date": started.astimezone(UTC).isoformat(timespec="seconds"),
        "commit": at_commit,
        "machine": m,
        "bench_members": members,
        "seconds": round(seconds, 1),
        "benchmarks": [r.__dict__ for r in runs],
    }
    (folder / "bench-report.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2, default=str) + "\n"
    )
    lines = [
        "# Telebill benchmarks",
        "",
        f"{info['date']} · commit {info['commit']} · {m['cores']} cores, {m['memory_gib']} GiB, "
        f"{m['cpu']} · Python {m['python']} · BENCH_MEMBERS={members:,} · "
        f"{seconds / 60:.1f} minutes in all",
        "",
        "Every figure is beside a baseline measured on the same machine in the same run (this "
        "machine is shared and noisy, so the ratio says more than the value). "
        "Written by `make bench`.",
    ]
    for r in runs:
        status = "" if r.exit_code == 0 else f" — **failed (exit code {r.exit_code})**"
        lines += ["", f"## {r.bench}{status}", "", f"`{r.command}` — {r.seconds:.0f} s", ""]
        if not r.figures:
            lines.append("(no figures)")
            continue
        lines += [
            "| figure | value | baseline | ratio | goal | met |",
            "|---|---:|---|---:|---|---|",
        ]
        notes = []
        for f in r.figures:
            base = f"{number(f['baseline'])} ({f['baseline_name']})" if f["baseline"] else "–"
            ratio = f"{f['ratio']:.2f}×" if f["ratio"] is not None else "–"
            lines.append(
                f"| {f['name']} | {number(f['value'])} {f['unit']} | {base} | {ratio} | "
                f"{f['goal'] or '–'} | {met_mark(f['met'])} |"
            )
            if f["note"]:
                notes.append(f"- {f['name']}: {f['note']}")
        lines += ["", *notes] if notes else []
    path = folder / "bench-report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
