"""What each operation that can grow a value in one step may be given, checked before it
runs: the filters (and the tests, each a step), and the methods of str."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from jinja2.utils import _PassArg

from telebill.rendering.budget import check_width, listed, refuse_wide_format, tick
from telebill.rendering.sizes import RenderLimit, Sizes

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


# What each filter that can grow a value in one step may be given, checked before it runs.
# `args` start at the filter's value (jinja's environment or eval context, which some filters
# take first, is left out: a filter with an async variant takes one without saying so).
def before_filter(name: str, sizes: Sizes, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    def arg(i: int, key: str, default: Any = None) -> Any:
        return args[i] if len(args) > i else kw.get(key, default)

    if name == "center":
        check_width(arg(1, "width", 80), "a center width")
    elif name == "indent":
        s, width = str(arg(0, "s", "")), arg(1, "width", 4)
        added = len(width) if isinstance(width, str) else width
        check_width(added, "an indent")
        sizes.per_line(s, s.count("\n") + 1, added, "an indent")
    elif name == "wordwrap":
        s, width, wrap = str(arg(0, "s", "")), arg(1, "width", 79), arg(3, "wrapstring") or "\n"
        lines = len(s) // max(int(width), 1) + s.count("\n") + 1
        sizes.per_line(s, lines, len(str(wrap)), "a wrap")
    elif name == "truncate":
        check_width(arg(1, "length", 255), "a truncate length")
    elif name == "format":
        refuse_wide_format(arg(0, "value"))
        sizes.formatted(str(arg(0, "value", "")), args[1:] or kw)
    elif name == "replace":
        s, old, new = (str(arg(i, k, "")) for i, k in ((0, "s"), (1, "old"), (2, "new")))
        sizes.replaced(s, old, new)
    elif name == "batch":
        count, fill = arg(1, "linecount", 1), arg(2, "fill_with")
        check_width(count, "a batch size")
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


def guard(f: Callable[..., Any], name: str) -> Callable[..., Any]:
    lead = 0 if _PassArg.from_obj(f) is None else 1  # the environment or context it takes first

    @wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        sizes = tick()
        if name == "join":  # join(value, d="", attribute=None): the items listed and sized first
            items = listed(args[lead])
            sep = args[lead + 1] if len(args) > lead + 1 else kwargs.get("d", "")
            sizes.joined(str(sep), items)
            args = (*args[:lead], items, *args[lead + 1 :])
        elif name == "unique":
            items = listed(args[lead])
            if len(items) > MAX_UNIQUE:
                raise RenderLimit(f"unique over more than {MAX_UNIQUE:,} items")
            args = (*args[:lead], items, *args[lead + 1 :])
        else:
            before_filter(name, sizes, args[lead:], kwargs)
        return sizes.check(f(*args, **kwargs), f"the {name} filter")

    return guarded


def counted_test(f: Callable[..., Any]) -> Callable[..., Any]:
    """A test (`select('ne', …)`) is a step each time it is asked: chained selects run it for
    every item at every stage."""

    @wraps(f)
    def counted_test(*args: Any, **kwargs: Any) -> Any:
        tick()
        return f(*args, **kwargs)

    return counted_test


def before_str_method(sizes: Sizes, s: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A str method's arguments, checked (and an iterable given to join, listed)."""
    if name == "join" and args:
        items = listed(args[0])
        sizes.joined(s, items)
        return (items, *args[1:])
    if name in ("ljust", "rjust", "center", "zfill") and args:
        check_width(args[0], f"a {name} width")
    elif name == "expandtabs":
        tabsize = args[0] if args else 8
        check_width(tabsize, "a tab size")
        sizes.per_line(s, s.count("\t"), tabsize if isinstance(tabsize, int) else 8, "tabs")
    elif name == "replace" and len(args) >= 2:
        sizes.replaced(s, str(args[0]), str(args[1]))
    return args
