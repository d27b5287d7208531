"""Every benchmark of bench/ at a size that finishes in under 20 minutes on the 2-core machine,
then one report: bench-report.md and bench-report.json (bench/report.py).

    python -m bench.all                    (make bench)
    BENCH_MEMBERS=1000000 python -m bench.all

BENCH_MEMBERS (default 50,000) sizes the seeding, settlement, bill amounts and consumer
benchmarks (the SMTP one up to 20,000); the month's workflows take a tenth of it; the
notification workflows and the server's settings keep their own small sizes (their figures are
rates per workflow). Each benchmark runs as its own process, its output shown as it goes and
kept in test-output/bench/<name>.log; one that fails is reported as failed and the others still
run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.report import BenchRun, commit, write

ROOT = Path(__file__).resolve().parent.parent


def plan(members: int) -> list[tuple[str, list[str]]]:
    consumers = ["--members", str(members), "--processes", "1,2", "--auto", "3"]
    chain = ["--chain-members", str(min(members, 20_000))]
    return [
        ("render", []),
        ("seed", ["--members", str(members)]),
        ("settle", ["--members", str(members)]),
        ("bill_amounts", ["--members", str(members)]),
        ("consumers", [*consumers, *chain]),
        # e-mail into aiosmtpd and a private Postfix beside the simulated provider (two
        # processes: issue 35's goal is for two)
        ("smtp", ["--members", str(min(members, 20_000)), "--processes", "2"]),
        ("notify", ["--members", "1000", "--rounds", "2"]),
        ("month", ["--members", str(max(members // 10, 2_000)), "--send-day-share", "0.3"]),
        ("server_knobs", ["--starts", "1000", "--workflows", "300", "--rounds", "1"]),
        # a year in small: four months on one database (bench.year --members 1000000 is the
        # issue's, over sittings)
        ("year", ["--members", str(max(members // 5, 5_000)), "--months", "4", "--fresh"]),
    ]


def run_one(name: str, args: list[str], logs: Path, index: int, total: int) -> BenchRun:
    command = [sys.executable, "-m", f"bench.{name}", *args]
    shown = " ".join(["python", "-m", f"bench.{name}", *args])
    print(f"\n[{index}/{total}] {shown}", flush=True)
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as figures_file:
        figures_path = Path(figures_file.name)
    started = time.perf_counter()
    with (logs / f"{name}.log").open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ | {"BENCH_FIGURES": str(figures_path)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = process.wait()
    seconds = time.perf_counter() - started
    figures = [json.loads(line) for line in figures_path.read_text().splitlines() if line]
    figures_path.unlink()
    return BenchRun(name, shown, round(seconds, 1), code, figures)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", action="append", help="run only this benchmark (repeatable), e.g. --only seed"
    )
    args = parser.parse_args()
    try:
        members = int(os.environ.get("BENCH_MEMBERS", "50000"))
    except ValueError:
        raise SystemExit("BENCH_MEMBERS must be a whole number of members") from None
    chosen = [(n, a) for n, a in plan(members) if not args.only or n in args.only]
    unknown = set(args.only or []) - {n for n, _ in plan(members)}
    if unknown:
        raise SystemExit(f"--only: no benchmark {', '.join(sorted(unknown))}")
    logs = ROOT / "test-output" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    started, at_commit = datetime.now(UTC), commit()  # what the benchmarks run
    runs = [run_one(name, a, logs, i, len(chosen)) for i, (name, a) in enumerate(chosen, start=1)]
    path = write(runs, started, members, ROOT, at_commit)
    failed = [r.bench for r in runs if r.exit_code != 0]
    print(f"\nreport: {path} and {path.with_suffix('.json')}")
    if failed:
        print(f"failed: {', '.join(failed)} (see test-output/bench/)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
