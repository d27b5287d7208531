"""The benchmarks' CPU accounting counts a process tree's children after they exit, as
PostgreSQL's backends do when their connections close (else a phase shows negative seconds)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.month_probes import cpu_seconds

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"


def test_a_child_that_exited_is_still_counted() -> None:
    roots = {"tree": os.getpid(), "alone": os.getpid()}
    before = cpu_seconds(roots, alone=("alone",))
    subprocess.run([sys.executable, "-c", BURN], check=True)  # started, burnt, reaped
    after = cpu_seconds(roots, alone=("alone",))
    assert after["tree"] - before["tree"] >= 0.3
    assert after["alone"] - before["alone"] < 0.3  # its own seconds only
