"""The date-sensitive tests run as if today were each hard date (`tests.clock`).

    python -m tests.dated            # every hard date, one pytest run each
    python -m tests.dated --list     # the instants they stand for today
    python -m tests.dated --only leap-day -- -x -k february

The pure rules (send windows, pricing, months, batches), the workflow tests (notification,
dispatch, settlement) and the unit tests of the services around them run with
TELEBILL_TEST_NOW set, each in a pytest process of its own. Property tests take fewer examples
here (the `dated` Hypothesis profile): the point is the date, the full suite explores the rest.
`make test` runs this after the suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from tests.clock import HARD_DATES, TEST_NOW_ENV, hard_dates

PATHS = ["tests/unit", "tests/workflows"]
# Commands run as child processes at the real time (their --help and error lines), and the
# generators that hunt for hostile input and their helper processes: no date in any of them,
# and most of the unit tests' time.
IGNORED = [
    "tests/unit/test_cli.py",
    "tests/unit/test_hunt_events.py",
    "tests/unit/test_hunt_templates.py",
    "tests/unit/test_isolated_render.py",
    # promtool evaluates the alert rules on a timeline of its own, from its own zero
    "tests/unit/test_deploy_monitoring.py",
    # Their plans are stand-ins that take no calendar into account (a year of STUCK and
    # NO_SEND_WINDOW turns; a local plan cut at its bound): they test Temporal's bounds, not
    # the date, and were 100 of the 170 s each dated run took.
    "tests/workflows/test_notification_history_bound.py",
    "tests/workflows/test_notification_fallback.py",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.dated", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--list", action="store_true", help="print the instants and stop")
    parser.add_argument("--only", action="append", choices=sorted(HARD_DATES), default=[])
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    dates = {k: v for k, v in hard_dates().items() if not args.only or k in args.only}
    if args.list:
        for name, instant in dates.items():
            print(f"{name:16} {instant.isoformat()}")
        return 0
    failed: list[str] = []
    for name, instant in dates.items():
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-profile=dated",
            *PATHS,
            *(f"--ignore={path}" for path in IGNORED),
            *args.pytest_args,
        ]
        print(f"== {name}: {TEST_NOW_ENV}={instant.isoformat()}", flush=True)
        began = time.monotonic()
        done = subprocess.run(command, env=os.environ | {TEST_NOW_ENV: instant.isoformat()})
        took = time.monotonic() - began
        if done.returncode != 0:
            failed.append(name)
        print(f"== {name}: {'passed' if done.returncode == 0 else 'FAILED'} in {took:.0f} s")
    summary = f"dated runs: {len(dates) - len(failed)} of {len(dates)} passed"
    print(summary + (f" (failed: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
