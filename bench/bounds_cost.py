"""What the bounds of issue 30 cost: `bench.render` and `bench.consumers` on the code before
them and on this code, alternately in one run, side by side.

    python -m bench.bounds_cost [--before 80cfd04] [--rounds 3] [--members 20000]

The code before is checked out once as a git worktree (test-output/bounds-before); each
command runs with that tree first on PYTHONPATH, so its consumer processes run that code too.
Rounds alternate before/after so that a noisy neighbour weighs on both; the best of each is
kept. Render: ms per default e-mail and SMS. Consumers: e-mails and SMS per second from the
first recorded send (the stack must be up: `telebill stack up`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from telebill.config import PROJECT_ROOT

BEFORE = "80cfd04"  # the last commit before the bounds
RENDER = re.compile(r"^(email|sms)\s+with limits ([\d.]+) ms", re.M)
RATE = re.compile(
    r"^(email|sms), [^:]+:.*\n(?:.*\n){2}\s+from the first recorded send:\s+[\d.]+ s\s+([\d,]+)",
    re.M,
)


def worktree(rev: str) -> Path:
    path = PROJECT_ROOT / "test-output" / "bounds-before"
    if not (path / "telebill").exists():
        subprocess.run(
            ["git", "worktree", "add", "--force", "--detach", str(path), rev],
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
        )
    else:
        subprocess.run(["git", "checkout", "-q", "--detach", rev], cwd=path, check=True)
    return path


def run(tree: Path, args: list[str]) -> str:
    env = os.environ | {"PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-m", *args], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} in {tree} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def best(found: dict[str, list[float]], pick: Callable[[list[float]], float]) -> dict[str, float]:
    return {k: pick(v) for k, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--members", type=int, default=20_000, help="0: skip the consumers")
    args = parser.parse_args()
    trees = {"before": worktree(args.before), "after": PROJECT_ROOT}
    render: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    rates: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    for i in range(args.rounds):
        for name, tree in trees.items():
            print(f"round {i + 1}/{args.rounds}, {name}: bench.render…", flush=True)
            out = run(tree, ["bench.render", "--rounds", "5", "--renders", "300"])
            for ch, ms in RENDER.findall(out):
                render[name].setdefault(ch, []).append(float(ms))
            if args.members:
                print(f"round {i + 1}/{args.rounds}, {name}: bench.consumers…", flush=True)
                out = run(
                    tree,
                    [
                        "bench.consumers",
                        "--members",
                        str(args.members),
                        "--channels",
                        "email,sms",
                        "--chain-members",
                        "0",
                    ],
                )
                for ch, rate in RATE.findall(out):
                    rates[name].setdefault(ch, []).append(float(rate.replace(",", "")))
    print(f"\nbefore = {args.before}, after = this tree; best of {args.rounds} rounds each")
    b, a = best(render["before"], min), best(render["after"], min)
    for ch in sorted(b):
        print(
            f"render {ch:5}  before {b[ch]:.3f} ms  after {a[ch]:.3f} ms  "
            f"after/before {a[ch] / b[ch]:.2f}"
        )
    b, a = best(rates["before"], max), best(rates["after"], max)
    for ch in sorted(b):
        print(
            f"consume {ch:5} before {b[ch]:,.0f}/s  after {a[ch]:,.0f}/s  "
            f"after/before {a[ch] / b[ch]:.2f}"
        )


if __name__ == "__main__":
    main()
