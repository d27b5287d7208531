"""The limits of one render: a template cannot stall or exhaust a consumer, whatever branch it
takes and whatever it is given.

`LimitedEnvironment` is jinja2's immutable sandbox that
- counts steps (every loop iteration, range step, call, filter and operator) against a budget
  per render, and checks the budget and the clock at every step;
- sizes every operation that can build a large value in one step before it runs (repetition,
  concatenation with `+` and `~`, join, padding, tab expansion, format, replace, indent, wrap,
  power, product; telebill/templates/sizes.py), and every value an operation returns after it;
- bounds what a template can write, block by block (`concat`) and as the output streams
  (telebill/templates/render.py).
Attribute lookups are not counted: they build nothing, and counting them doubled the cost of a
render.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from itertools import islice
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from telebill.templates.sizes import RenderLimit, Sizes

__all__ = ["LIMITS", "Budget", "LimitedEnvironment", "Limits", "RenderLimit", "current"]


@dataclass(frozen=True)
class Limits:
    max_chars: int = 500_000  # of one rendered part, and of any value (an e-mail is ~10 KB)
    max_steps: int = 200_000  # loop iterations, calls, operators (the default e-mail: ~100)
    max_seconds: float = 0.5  # of one render (the default e-mail: ~0.2 ms)


LIMITS = Limits()
_WIDE = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format
MAX_SLICES = 1_000  # columns of `slice`: each is a list built in one step
MAX_UNIQUE = 2_000  # items `unique` hashes: colliding integers make each insertion linear
MAX_INDENT = 16  # of `tojson`: each level of a value repeats it
# Methods no bill needs, each a way around the limits: bytes (sized by nothing here, and
# punycode is quadratic), a translation table that grows every character, hashing a list of
# integers that all collide.
DENIED_METHODS = frozenset(["encode", "translate", "maketrans", "fromkeys"])
# Filters no bill needs whose cost is not linear: urlize's trailing-punctuation pattern is
# quadratic (20,000 ')' took 13 s in one step).
DENIED_FILTERS = ("urlize",)
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


def _budget() -> Budget:
    """This render's budget (a render outside `render()`, in a test, gets a fresh one)."""
    budget = current.get()
    return Budget(LIMITS) if budget is None else budget


def _tick() -> Sizes:
    budget = _budget()
    budget.step()
    return budget.sizes


def _width(n: object, what: str) -> None:
    if isinstance(n, int) and n > LIMITS.max_chars:
        raise RenderLimit(f"{what} beyond {LIMITS.max_chars:,}")


def _refuse_wide_format(fmt: object) -> None:
    if isinstance(fmt, str) and _WIDE.search(fmt):
        raise RenderLimit("a format width beyond a million")
    if isinstance(fmt, str) and _ARGUMENT_WIDTH.search(fmt):
        raise RenderLimit("a format width taken from an argument")


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


def _items(value: Iterable[Any]) -> list[Any]:
    """An iterable as a list of at most max_chars items (a string of them would be longer)."""
    items = list(islice(counted(value), LIMITS.max_chars + 1))
    if len(items) > LIMITS.max_chars:
        raise RenderLimit(f"more than {LIMITS.max_chars:,} items")
    return items


def _bounded_concat(parts: Iterable[str]) -> str:
    """`environment.concat`: a macro's, a block's or a `{% set %}` block's output, bounded as
    it is gathered."""
    sizes, kept, total = _budget().sizes, [], 0
    for part in parts:
        total += len(part)
        sizes.allow(total, "a block's output")
        kept.append(part)
    sizes.count_built(total)
    return "".join(kept)


def _finalize(value: Any) -> Any:
    """Every `{{ … }}` before it is converted to text (a string is text already: what it adds
    to the output is counted as the output streams)."""
    if type(value) is str:
        return value
    return _budget().sizes.fits(value, "an output")


class _LimitedCodeGenerator(CodeGenerator):
    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # {% for x in EXPR %} is compiled as `for x in environment.counted(EXPR)`
        counter = nodes.EnvironmentAttribute("counted", lineno=node.lineno)
        node.iter = nodes.Call(counter, [node.iter], [], None, None, lineno=node.lineno)
        super().visit_For(node, frame)

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        # x[a:b] is compiled as plain Python slicing, which copies; here as
        # environment.sliced(x, slice(a, b, c)): a step, and a value sized like any other
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.sliced(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for i, part in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            self.write(", " if i else "")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write("))")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # a ~ b ~ c is compiled as markup_join(environment.concat_args((a, b, c, ))): sized
        # from its parts before any of them is converted to text
        if frame.eval_ctx.volatile:
            func_name = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            func_name = "markup_join"
        else:
            func_name = "str_join"
        self.write(f"{func_name}(environment.concat_args((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


def _sliced(obj: Any, part: slice) -> Any:
    return _tick().check(obj[part], "a slice")


def _concat_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    sizes = _tick()
    total = sum(sizes.of(a) for a in args)
    sizes.allow(total, "a concatenation")
    sizes.count_built(total)
    return args


# What each filter that can grow a value in one step may be given, checked before it runs.
# `args` start at the filter's value (jinja's environment or eval context, which some filters
# take first, is left out: a filter with an async variant takes one without saying so).
def _before_filter(name: str, sizes: Sizes, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    def arg(i: int, key: str, default: Any = None) -> Any:
        return args[i] if len(args) > i else kw.get(key, default)

    if name == "center":
        _width(arg(1, "width", 80), "a center width")
    elif name == "indent":
        s, width = str(arg(0, "s", "")), arg(1, "width", 4)
        added = len(width) if isinstance(width, str) else width
        _width(added, "an indent")
        sizes.per_line(s, s.count("\n") + 1, added, "an indent")
    elif name == "wordwrap":
        s, width, wrap = str(arg(0, "s", "")), arg(1, "width", 79), arg(3, "wrapstring") or "\n"
        lines = len(s) // max(int(width), 1) + s.count("\n") + 1
        sizes.per_line(s, lines, len(str(wrap)), "a wrap")
    elif name == "truncate":
        _width(arg(1, "length", 255), "a truncate length")
    elif name == "format":
        _refuse_wide_format(arg(0, "value"))
        sizes.formatted(str(arg(0, "value", "")), args[1:] or kw)
    elif name == "replace":
        s, old, new = (str(arg(i, k, "")) for i, k in ((0, "s"), (1, "old"), (2, "new")))
        sizes.replaced(s, old, new)
    elif name == "batch":
        count, fill = arg(1, "linecount", 1), arg(2, "fill_with")
        _width(count, "a batch size")
        if fill is not None:
            sizes.repeat([fill], count)
    elif name == "slice":
        count = arg(1, "slices", 1)
        if isinstance(count, int) and count > MAX_SLICES:
            raise RenderLimit(f"a slice into more than {MAX_SLICES:,} columns")
    elif name == "sum":
        start = arg(2, "start", 0)
        if not isinstance(start, int | float):  # sum() over lists copies in a square
            raise RenderLimit("sum starts from a number")
    elif name == "tojson":
        indent = arg(1, "indent")
        if isinstance(indent, int) and indent > MAX_INDENT:
            raise RenderLimit(f"a tojson indent beyond {MAX_INDENT}")


def _guard(f: Callable[..., Any], name: str) -> Callable[..., Any]:
    lead = 0 if _PassArg.from_obj(f) is None else 1  # the environment or context it takes first

    @wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        sizes = _tick()
        if name == "join":  # join(value, d="", attribute=None): the items listed and sized first
            items = _items(args[lead])
            sep = args[lead + 1] if len(args) > lead + 1 else kwargs.get("d", "")
            sizes.joined(str(sep), items)
            args = (*args[:lead], items, *args[lead + 1 :])
        elif name == "unique":
            items = _items(args[lead])
            if len(items) > MAX_UNIQUE:
                raise RenderLimit(f"unique over more than {MAX_UNIQUE:,} items")
            args = (*args[:lead], items, *args[lead + 1 :])
        else:
            _before_filter(name, sizes, args[lead:], kwargs)
        return sizes.check(f(*args, **kwargs), f"the {name} filter")

    return guarded


def _counted_test(f: Callable[..., Any]) -> Callable[..., Any]:
    """A test (`select('ne', …)`) is a step each time it is asked: chained selects run it for
    every item at every stage."""

    @wraps(f)
    def counted_test(*args: Any, **kwargs: Any) -> Any:
        _tick()
        return f(*args, **kwargs)

    return counted_test


def _before_str_method(sizes: Sizes, s: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A str method's arguments, checked (and an iterable given to join, listed)."""
    if name == "join" and args:
        items = _items(args[0])
        sizes.joined(s, items)
        return (items, *args[1:])
    if name in ("ljust", "rjust", "center", "zfill") and args:
        _width(args[0], f"a {name} width")
    elif name == "expandtabs":
        tabsize = args[0] if args else 8
        _width(tabsize, "a tab size")
        sizes.per_line(s, s.count("\t"), tabsize if isinstance(tabsize, int) else 8, "tabs")
    elif name == "replace" and len(args) >= 2:
        sizes.replaced(s, str(args[0]), str(args[1]))
    return args


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])
    concat = staticmethod(_bounded_concat)

    def __init__(self, **options: Any) -> None:
        # No constant folding: jinja would run a constant expression's operations when the
        # template is compiled, outside any render's budget.
        super().__init__(finalize=_finalize, optimized=False, **options)
        self.counted = counted
        self.concat_args = _concat_args
        self.sliced = _sliced
        self.filters = {
            name: _guard(f, name) for name, f in self.filters.items() if name not in DENIED_FILTERS
        }
        self.tests = {
            name: _counted_test(f)  # type: ignore[arg-type]
            for name, f in self.tests.items()
        }
        self.globals["range"] = _counted_range
        del self.globals["lipsum"]  # builds up to its argument in paragraphs, in one step

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
        sizes = _tick()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if name in DENIED_METHODS:
            raise RenderLimit(f"{name}() is not allowed in a template")
        if isinstance(owner, str):
            args = _before_str_method(sizes, owner, name, args)
            if name in ("format", "format_map"):
                sizes.formatted(
                    owner, args[0] if name == "format_map" else (*args, *kwargs.values())
                )
        # The arguments exist already (built by a checked operation, or the bill's own data):
        # only what the call builds is sized.
        return sizes.check(super().call(__context, __obj, *args, **kwargs), "a call's result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) in ("format", "format_map"):
            _refuse_wide_format(getattr(value, "__self__", None))  # '{:0999999999}'.format(1)
        return super().wrap_str_format(value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        sizes = _tick()
        if operator == "**":
            sizes.power(left, right)
        elif operator == "*":
            sizes.product(left, right)
        elif operator == "+" and not isinstance(left, int | float):
            sizes.allow(sizes.of(left) + sizes.of(right), "a concatenation")
        elif operator == "%" and isinstance(left, str):
            _refuse_wide_format(left)
            sizes.formatted(left, right)
        return sizes.check(super().call_binop(context, operator, left, right), "an operation")
