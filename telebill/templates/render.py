"""Sandboxed jinja2 rendering: immutable sandbox, autoescape on, strict undefined, Korean won
formatting, and limits per message.

A template that fails is refused with its line and the reason (syntax error, unknown variable,
anything the sandbox forbids). A render may not exceed LIMITS: the characters it writes, the
steps it takes (loop iterations, lookups and calls, each counted) and its time. A template that
exceeds one is refused when it is added; a message that exceeds one at send time is a dead
letter with the reason, never a stalled or exhausted consumer.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from functools import lru_cache, wraps
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

from telebill.errors import TelebillError

TEMPLATE_FILENAME = "<template>"


class TemplateInvalid(TelebillError):
    """The template cannot be used; says where (line) and why."""


@dataclass(frozen=True)
class Limits:
    max_chars: int = 500_000  # of one rendered part (an e-mail body is ~10 KB)
    max_steps: int = 200_000  # loop iterations, lookups and calls (the default e-mail: ~1,000)
    max_seconds: float = 0.5  # of one render (the default e-mail: ~1 ms)


LIMITS = Limits()


class RenderLimit(SecurityError):
    """A render went past one of LIMITS."""


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.steps = 0
        self.chars = 0
        self.deadline = time.perf_counter() + limits.max_seconds

    def step(self, n: int = 1) -> None:
        self.steps += n
        if self.steps & 63 and n == 1:
            return  # the limits are looked at every 64 steps: renders stay cheap
        if self.steps > self.limits.max_steps:
            raise RenderLimit(f"more than {self.limits.max_steps:,} steps (loops, lookups, calls)")
        if time.perf_counter() > self.deadline:
            raise RenderLimit(f"took longer than {self.limits.max_seconds:g} s")

    def wrote(self, text: str) -> None:
        self.chars += len(text)
        if self.chars > self.limits.max_chars:
            raise RenderLimit(f"writes more than {self.limits.max_chars:,} characters")


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _tick(n: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.step(n)


def _big_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > LIMITS.max_chars


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    """Counts every lookup, call and range step against the render's budget, and refuses the
    operations that can build a huge value in one step (`"x" * 10**9`, `2 ** 10**9`)."""

    intercepted_binops = frozenset(["*", "**"])

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if any(_big_int(a) for a in (*args, *kwargs.values())):
            raise RenderLimit(f"an argument beyond {LIMITS.max_chars:,}")
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**" and (_big_int(left) or (isinstance(right, int) and right > 64)):
            raise RenderLimit("a power too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(n, int)
                if sized and len(seq) * n > LIMITS.max_chars:
                    raise RenderLimit(f"a repetition beyond {LIMITS.max_chars:,}")
        return super().call_binop(context, operator, left, right)


def _counted_range(*args: int) -> Iterator[int]:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimit(f"a range of more than {MAX_RANGE:,} numbers")
    for n in numbers:
        _tick()
        yield n


def _guarded(f: Callable[..., Any]) -> Callable[..., Any]:
    """A filter counted as a step, refusing widths and counts no message needs."""

    @wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if any(_big_int(a) for a in (*args[1:], *kwargs.values())):
            raise RenderLimit(f"a filter argument beyond {LIMITS.max_chars:,}")
        return f(*args, **kwargs)

    return guarded


def won(amount: int) -> str:
    """54890 → '54,890원'."""
    return f"{amount:,}원"


def month_ko(day: date) -> str:
    return f"{day.year}년 {day.month}월"


def date_ko(day: date) -> str:
    return f"{day.year}년 {day.month}월 {day.day}일"


def _environment() -> LimitedEnvironment:
    env = LimitedEnvironment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(won=won, month_ko=month_ko, date_ko=date_ko)
    env.filters = {name: _guarded(f) for name, f in env.filters.items()}
    env.globals["range"] = _counted_range
    return env


ENV = _environment()


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _invalid(what: str, exc: Exception, line: int | None) -> TemplateInvalid:
    where = f"line {line}: " if line else ""
    message = getattr(exc, "message", None) or str(exc)
    return TemplateInvalid(f"{what}: {where}{message}")


def compile_template(source: str, what: str = "template") -> Template:
    try:
        return _compiled(source)
    except TemplateSyntaxError as exc:
        raise _invalid(what, exc, exc.lineno) from None


@lru_cache(maxsize=64)
def _compiled(source: str) -> Template:
    # Compiling costs milliseconds; a consumer renders the same few versions thousands of times.
    return ENV.from_string(source)


def render(
    template: Template,
    context: dict[str, object],
    block: str | None = None,
    what: str = "template",
    limits: Limits = LIMITS,
) -> str:
    """Render the whole template, or one of its {% block %}s, within `limits`."""
    if block is not None and block not in template.blocks:
        raise TemplateInvalid(f"{what}: has no {{% block {block} %}}")
    budget = _Budget(limits)
    token = _budget.set(budget)
    parts: list[str] = []
    try:
        if block is None:
            chunks = template.generate(context)
        else:
            chunks = template.blocks[block](template.new_context(context))
        for chunk in chunks:
            budget.wrote(chunk)
            parts.append(chunk)
        return "".join(parts)
    except RenderLimit as exc:
        line = _template_line(exc.__traceback__)
        where = f"line {line}: " if line else ""
        raise TemplateInvalid(f"{what}: {where}over the limit: {exc}") from None
    except TemplateError as exc:
        raise _invalid(what, exc, _template_line(exc.__traceback__)) from None
    except (RecursionError, MemoryError, ArithmeticError, ValueError, TypeError) as exc:
        line = _template_line(exc.__traceback__)
        raise _invalid(what, exc, line) from None
    finally:
        _budget.reset(token)


def to_plain_text(rendered: str) -> str:
    """A part rendered with autoescape, made plain again (for the text/plain alternative)."""
    return html.unescape(rendered)
