"""What the render limits cost: the default e-mail and SMS rendered under Telebill's limits,
next to the same templates in jinja2's plain immutable sandbox, in the same run.

    python -m bench.render [--rounds 7] [--renders 500]

Prints the best round's time per render for each, and the ratio (no services needed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bench.figures import Figure, Goal, record
from telebill.channels import channel
from telebill.channels.base import Channel, TemplateSource
from telebill.rendering import render as rendering
from telebill.rendering.context import sample_context


def best_ms(work: Callable[[], object], rounds: int, renders: int) -> float:
    for _ in range(renders // 5):
        work()  # warm: compiled, caches filled
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(renders):
            work()
        best = min(best, (time.perf_counter() - started) / renders * 1000)
    return best


def plain_environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(won=rendering.won, month_ko=rendering.month_ko, date_ko=rendering.date_ko)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--renders", type=int, default=500)
    args = parser.parse_args()
    ctx = sample_context()
    limited_env, limited_plain = rendering.ENV, rendering.PLAIN_ENV
    for name in ("email", "sms"):
        ch = channel(name)
        template = ch.default_template()

        def work(ch: Channel = ch, template: TemplateSource = template) -> object:
            return ch.render(template, ctx)

        limited = best_ms(work, args.rounds, args.renders)
        rendering.ENV = plain_environment(True)  # type: ignore[assignment]
        rendering.PLAIN_ENV = plain_environment(False)  # type: ignore[assignment]
        rendering._compiled.cache_clear()
        plain = best_ms(work, args.rounds, args.renders)
        rendering.ENV, rendering.PLAIN_ENV = limited_env, limited_plain
        rendering._compiled.cache_clear()
        print(
            f"{name:5}  with limits {limited:.3f} ms   plain sandbox {plain:.3f} ms   "
            f"ratio {limited / plain:.2f}",
            flush=True,
        )
        record(
            Figure(
                "render",
                f"the default {name} template, rendered under the limits",
                limited,
                "ms",
                plain,
                "jinja2's plain immutable sandbox",
                Goal(high=1.5, of="ratio"),
            )
        )


if __name__ == "__main__":
    main()
