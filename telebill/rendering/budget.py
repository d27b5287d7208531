"""One render's budget: its limits, the steps it has taken, the clock, and the sizes of what it
built (telebill/rendering/sizes.py); and the checks every guard shares."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from itertools import islice
from typing import Any

from jinja2.sandbox import MAX_RANGE

from telebill.rendering.sizes import RenderLimit, Sizes


@dataclass(frozen=True)
class Limits:
    max_chars: int = 500_000  # of one rendered part, and of any value (an e-mail is ~10 KB)
    max_steps: int = 200_000  # loop iterations, calls, operators (the default e-mail: ~100)
    max_seconds: float = 0.5  # of one render (the default e-mail: ~0.2 ms)


LIMITS = Limits()
_WIDE = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format
# A width or a nested field taken from the arguments ('%*s', '{:{}}'): sized by nothing.
_ARGUMENT_WIDTH = re.compile(r"%[^a-zA-Z%]*\*|\{[^{}]*\{")


class Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.perf_counter() + limits.max_seconds
        self.sizes = Sizes(limits.max_chars)

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise RenderLimit(f"more than {self.limits.max_steps:,} steps (loops, calls)")
        if time.perf_counter() > self.deadline:
            raise RenderLimit(f"took longer than {self.limits.max_seconds:g} s")


current: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def current_budget() -> Budget:
    """This render's budget (a render outside `render()`, in a test, gets a fresh one)."""
    budget = current.get()
    return Budget(LIMITS) if budget is None else budget


def tick() -> Sizes:
    budget = current_budget()
    budget.step()
    return budget.sizes


def check_width(n: object, what: str) -> None:
    if isinstance(n, int) and n > LIMITS.max_chars:
        raise RenderLimit(f"{what} beyond {LIMITS.max_chars:,}")


def refuse_wide_format(fmt: object) -> None:
    if isinstance(fmt, str) and _WIDE.search(fmt):
        raise RenderLimit("a format width beyond a million")
    if isinstance(fmt, str) and _ARGUMENT_WIDTH.search(fmt):
        raise RenderLimit("a format width taken from an argument")


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every loop's iterable, so that each iteration is a step."""
    for item in iterable:
        tick()
        yield item


def counted_range(*args: int) -> Iterator[int]:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"a range of more than {MAX_RANGE:,} numbers")
    return counted(numbers)


def listed(value: Iterable[Any]) -> list[Any]:
    """An iterable as a list of at most max_chars items (a string of them would be longer)."""
    items = list(islice(counted(value), LIMITS.max_chars + 1))
    if len(items) > LIMITS.max_chars:
        raise RenderLimit(f"more than {LIMITS.max_chars:,} items")
    return items
