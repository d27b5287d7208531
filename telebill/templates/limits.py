"""The limits of one render: a template cannot stall or exhaust a consumer.

`LimitedEnvironment` is jinja2's immutable sandbox that counts steps (every loop iteration,
range step, call and arithmetic operator) against a budget per render, checks its time every
64 steps, and refuses the few operations that can build a huge value in one step
(`'x' * 10**9`, `2 ** 10**9`, `'%0999999999d' % 1`, `center(10**9)`, `replace` that multiplies).
The characters written are counted as the output streams (telebill/templates/render.py).
Attribute lookups are not counted: they cost nothing a loop does not already count, and
counting them doubled the cost of a render.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment


@dataclass(frozen=True)
class Limits:
    max_chars: int = 500_000  # of one rendered part (an e-mail body is ~10 KB)
    max_steps: int = 200_000  # loop iterations, calls, operators (the default e-mail: ~100)
    max_seconds: float = 0.5  # of one render (the default e-mail: ~0.2 ms)


LIMITS = Limits()
_WIDE = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format


class RenderLimit(SecurityError):
    """A render went past one of its limits."""


class Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.deadline = time.perf_counter() + limits.max_seconds

    def step(self) -> None:
        self.steps += 1
        if self.steps & 63:
            return  # looked at every 64 steps: a render stays cheap
        if self.steps > self.limits.max_steps:
            raise RenderLimit(f"more than {self.limits.max_steps:,} steps (loops, calls)")
        if time.perf_counter() > self.deadline:
            raise RenderLimit(f"took longer than {self.limits.max_seconds:g} s")


current: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def _tick() -> None:
    budget = current.get()
    if budget is not None:
        budget.step()


def _big(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > LIMITS.max_chars


def _refuse_wide_format(fmt: object) -> None:
    if isinstance(fmt, str) and _WIDE.search(fmt):
        raise RenderLimit("a format width beyond a million")


def counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """Every loop's iterable, so that each iteration is a step."""
    for item in iterable:
        _tick()
        yield item


def _counted_range(*args: int) -> Iterator[int]:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"a range of more than {MAX_RANGE:,} numbers")
    return counted(numbers)


class _CountingCodeGenerator(CodeGenerator):
    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # {% for x in EXPR %} is compiled as `for x in environment.counted(EXPR)`
        counter = nodes.EnvironmentAttribute("counted", lineno=node.lineno)
        node.iter = nodes.Call(counter, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)


def _guard(f: Callable[..., Any], name: str) -> Callable[..., Any]:
    @wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        rest = (*args[1:], *kwargs.values())
        if any(_big(a) for a in rest):
            raise RenderLimit(f"a {name} argument beyond {LIMITS.max_chars:,}")
        if name == "format":
            _refuse_wide_format(args[0] if args else None)
        texts = [a for a in args if isinstance(a, str)]  # replace(eval_ctx, s, old, new)
        if name == "replace" and len(texts) >= 3:
            s, old, new = texts[:3]
            grown = (s.count(old) if old else len(s) + 1) * max(len(new) - len(old), 0)
            if len(s) + grown > LIMITS.max_chars:
                raise RenderLimit(f"a replace beyond {LIMITS.max_chars:,} characters")
        return f(*args, **kwargs)

    return guarded


# The filters whose arguments can make them build a huge value.
GUARDED_FILTERS = (
    "center",
    "indent",
    "wordwrap",
    "truncate",
    "format",
    "replace",
    "batch",
    "slice",
)


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _CountingCodeGenerator
    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.counted = counted
        for name in GUARDED_FILTERS:
            self.filters[name] = _guard(self.filters[name], name)
        self.globals["range"] = _counted_range

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Templates read `bill.amount_due` from plain dicts; jinja tries the attribute first and
        # only then the key, so every such read raised and caught an AttributeError (a tenth of
        # a consumer's time). A key of the dict answers at once; anything else goes the
        # sandbox's way. (No key of a render context is the name of a dict method.)
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if any(_big(a) for a in (*args, *kwargs.values())):
            raise RenderLimit(f"an argument beyond {LIMITS.max_chars:,}")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) in ("format", "format_map"):
            _refuse_wide_format(getattr(value, "__self__", None))  # '{:0999999999}'.format(1)
        return super().wrap_str_format(value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**" and (_big(left) or (isinstance(right, int) and right > 64)):
            raise RenderLimit("a power too large")
        if operator == "%":
            _refuse_wide_format(left)
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
                if sized and len(seq) * n > LIMITS.max_chars:
                    raise RenderLimit(f"a repetition beyond {LIMITS.max_chars:,}")
        return super().call_binop(context, operator, left, right)
