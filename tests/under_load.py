"""The process tests, many runs in a row, while a CPU-heavy job runs beside them.

    python -m tests.under_load                       # 20 runs of PROCESS_TESTS, load on
    python -m tests.under_load --runs 5 --load-members 0 tests/integration/test_metrics.py

The load is what a busy machine does: a settlement of `--load-members` members (200,000 by
default) in a database of its own, started again whenever it ends (`python -m bench.settle`),
so both cores are taken while the tests run. Each run is one pytest process; the output is one
line per run (passed or the failed tests, and its time), then a summary, and the full output of
a failed run in test-output/under-load/. Exits non-zero when any run failed.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

from telebill.config import PROJECT_ROOT

PROCESS_TESTS = [
    "tests/integration/test_metrics.py",
    "tests/integration/test_consumer_scaling.py",
    "tests/integration/test_consumer_processes.py",
    "tests/integration/test_shutdown.py",
    "tests/integration/test_supervision.py",
    "tests/drills/test_drills.py",
]
OUT = PROJECT_ROOT / "test-output" / "under-load"


def start_load(members: int) -> subprocess.Popen[bytes] | None:
    if members <= 0:
        return None
    loop = f"while :; do {sys.executable} -m bench.settle --members {members}; done"
    log = (OUT / "load.log").open("wb")
    return subprocess.Popen(
        ["bash", "-c", loop],
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.under_load", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--load-members", type=int, default=200_000, help="0: no load")
    parser.add_argument("tests", nargs="*", default=PROCESS_TESTS)
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    load = start_load(args.load_members)
    took: list[float] = []
    failed_runs = 0
    try:
        for n in range(1, args.runs + 1):
            began = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.tests],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
                env=os.environ,
            )
            took.append(time.monotonic() - began)
            summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
            failures = re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE)
            if done.returncode != 0:
                failed_runs += 1
                (OUT / f"run-{n}.log").write_text(done.stdout + done.stderr)
            print(
                f"run {n:2}/{args.runs}: {summary} ({took[-1]:.0f} s)"
                + (f" FAILED: {', '.join(failures)}" if failures else ""),
                flush=True,
            )
    finally:
        if load is not None:
            os.killpg(load.pid, signal.SIGTERM)
            load.wait()
    print(
        f"under load ({args.load_members:,} members settling beside): "
        f"{args.runs - failed_runs} of {args.runs} runs passed; "
        f"a run took {statistics.median(took):.0f} s (median), {max(took):.0f} s at most"
    )
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
