"""The limits of one render: a template cannot stall or exhaust a consumer, whatever branch it
takes and whatever it is given.

`LimitedEnvironment` is jinja2's immutable sandbox that
- counts steps (every loop iteration, range step, call, filter and operator) against a budget
  per render, and checks the budget and the clock at every step;
- sizes every operation that can build a large value in one step before it runs (repetition,
  concatenation with `+` and `~`, join, padding, tab expansion, format, replace, indent, wrap,
  power, product; telebill/rendering/sizes.py), and every value an operation returns after it;
- bounds what a template can write, block by block (`concat`) and as the output streams
  (telebill/rendering/render.py).
The budget lives in budget.py, the checks of each filter and str method in guards.py; this
module wires them into the sandbox (its code generator and its hooks). Attribute lookups are
not counted: they build nothing, and counting them doubled the cost of a render.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import ImmutableSandboxedEnvironment

from telebill.rendering.budget import (
    LIMITS,
    Budget,
    Limits,
    counted,
    counted_range,
    current,
    current_budget,
    refuse_wide_format,
    tick,
)
from telebill.rendering.guards import (
    DENIED_FILTERS,
    DENIED_METHODS,
    before_str_method,
    counted_test,
    guard,
)
from telebill.rendering.sizes import RenderLimit

# what render.py takes from here, wherever it lives
__all__ = ["LIMITS", "Budget", "LimitedEnvironment", "Limits", "RenderLimit", "current"]


def _bounded_concat(parts: Iterable[str]) -> str:
    """`environment.concat`: a macro's, a block's or a `{% set %}` block's output, bounded as
    it is gathered."""
    sizes, kept, total = current_budget().sizes, [], 0
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
    return current_budget().sizes.fits(value, "an output")


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
    return tick().check(obj[part], "a slice")


def _concat_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    sizes = tick()
    total = sum(sizes.of(a) for a in args)
    sizes.allow(total, "a concatenation")
    sizes.count_built(total)
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
            name: guard(f, name) for name, f in self.filters.items() if name not in DENIED_FILTERS
        }
        self.tests = {
            name: counted_test(f)  # type: ignore[arg-type]
            for name, f in self.tests.items()
        }
        self.globals["range"] = counted_range
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
        sizes = tick()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if name in DENIED_METHODS:
            raise RenderLimit(f"{name}() is not allowed in a template")
        if isinstance(owner, str):
            args = before_str_method(sizes, owner, name, args)
            if name in ("format", "format_map"):
                sizes.formatted(
                    owner, args[0] if name == "format_map" else (*args, *kwargs.values())
                )
        # The arguments exist already (built by a checked operation, or the bill's own data):
        # only what the call builds is sized.
        return sizes.check(super().call(__context, __obj, *args, **kwargs), "a call's result")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if getattr(value, "__name__", None) in ("format", "format_map"):
            refuse_wide_format(getattr(value, "__self__", None))  # '{:0999999999}'.format(1)
        return super().wrap_str_format(value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        sizes = tick()
        if operator == "**":
            sizes.power(left, right)
        elif operator == "*":
            sizes.product(left, right)
        elif operator == "+" and not isinstance(left, int | float):
            sizes.allow(sizes.of(left) + sizes.of(right), "a concatenation")
        elif operator == "%" and isinstance(left, str):
            refuse_wide_format(left)
            sizes.formatted(left, right)
        return sizes.check(super().call_binop(context, operator, left, right), "an operation")
