"""`make drills` / `python -m tests.drills`: every drill (or --only some), each with a seed that
is printed, so that a failure can be run again exactly (--seed). Prints a table and writes JSON
(test-output/drills.json)."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys

from rich.console import Console
from rich.table import Table

from telebill.config import Settings
from telebill.stack.kafka import Kafka
from tests.drills.faults import FAULTS
from tests.drills.installation import LOGS
from tests.drills.run import Result, drill


def report(results: list[Result]) -> None:
    table = Table("drill", "fault", "seed", "struck at", "recovered in", "checks", title="Drills")
    for r in results:
        checks = "\n".join(f"{'ok ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in r.checks)
        if r.exited:
            checks += f"\nFAIL exited by themselves: {', '.join(r.exited)}"
        table.add_row(
            r.drill,
            r.fault,
            str(r.seed),
            f"{r.struck_at_s} s\n{r.moment}",
            f"{r.recovery_s} s"
            + (f"\nlongest pause in sends {r.pause_s} s" if r.pause_s is not None else "")
            + (f"\n{r.note}" if r.note else ""),
            checks,
        )
    Console(width=200).print(table)


async def main(names: list[str], seed: int | None, members: int, rounds: int) -> int:
    base = Settings()
    brokers = len(Kafka(base).nodes)
    chosen = [f for f in FAULTS if (f.name in names if names else f.brokers <= brokers)]
    if unknown := set(names) - {f.name for f in FAULTS}:
        print(f"no drill {', '.join(sorted(unknown))}; drills: {', '.join(f.name for f in FAULTS)}")
        return 2
    if small := [f.name for f in chosen if f.brokers > brokers]:
        print(
            f"{', '.join(small)} need{'s' if len(small) == 1 else ''} a Kafka cluster of 3 "
            f"brokers, this stack has {brokers}: `make drills-cluster` runs them"
        )
        return 2
    if skipped := [f.name for f in FAULTS if f not in chosen and not names]:
        print(f"skipped (they need a Kafka cluster: `make drills-cluster`): {', '.join(skipped)}")
    results: list[Result] = []
    for _ in range(rounds):
        for fault in chosen:
            s = seed if seed is not None else random.randrange(1_000_000)
            print(f"drill {fault.name} (seed {s}): {fault.what} while {fault.phase}…", flush=True)
            try:
                results.append(await drill(fault, s, members, base))
            except Exception as exc:  # did not recover in time, or the harness itself failed
                failed = f"{fault.what}: {type(exc).__name__}: {exc}"
                results.append(Result(fault.name, failed, s, members, 0, 0, exited=["-"]))
    report(results)
    LOGS.mkdir(parents=True, exist_ok=True)
    out = LOGS.parent / ("drills.json" if brokers == 1 else f"drills-{brokers}-brokers.json")
    out.write_text(json.dumps([r.as_dict() for r in results], indent=2, default=str))
    print(f"written: {out}; logs of the processes: {LOGS}/")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", default=[], help="a drill's name (repeatable)")
    parser.add_argument("--seed", type=int, help="the seed of a run to repeat")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1, help="run each drill this many times")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.only, args.seed, args.members, args.rounds)))
