"""How big a template's value is, and how big an operation would make it, known before the
operation allocates anything.

A render's values stay under one bound (`Sizes.limit` characters, as `str()` would write them):
every operation that can grow a value in one step (repetition, concatenation, join, padding,
tab expansion, format, replace, indent, power) is sized from its inputs first and refused when
the result would pass the bound; every value an operation returns is sized again. The size of
a list counts its items each time they appear (`[s] * 1000` is a thousand times `s`), because
that is what writing it out would cost.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import chain
from typing import Any

from jinja2.exceptions import SecurityError

BUILT_PER_LIMIT = 20  # a render builds at most this many times the largest value in all
MAX_INT_BITS = 4_096  # ~1,233 digits: far below Python's 4,300-digit conversion limit
_SPEC = re.compile(r"%(?:\([^)]*\))?[^a-zA-Z%]*[a-zA-Z%]|\{[^{}]*\}")
_NUMBER = re.compile(r"\d+")


class RenderLimit(SecurityError):
    """A render went past one of its limits."""


class Sizes:
    """The sizes of one render's values; containers are walked once (values are immutable in
    the sandbox) and remembered by identity for the render's life."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # What a render may build in all, whatever it keeps: a template that sets a thousand
        # variables of the largest size stops here, in whichever branch it does so.
        self.budget = BUILT_PER_LIMIT * limit
        self.built = 0
        self._known: dict[int, tuple[object, int]] = {}

    def of(self, value: object) -> int:
        """About the characters `str(value)` writes; stops counting past the limit."""
        if isinstance(value, str):
            return len(value)
        if isinstance(value, bool) or value is None:
            return 5
        if isinstance(value, int):
            return value.bit_length() * 30103 // 100_000 + 2  # log10(2) digits per bit
        if isinstance(value, float):
            return 24
        if not isinstance(value, list | tuple | dict | set | frozenset):
            return 64  # a date, a macro, an undefined: what they write is small
        known = self._known.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        total = 2
        items = chain.from_iterable(value.items()) if isinstance(value, dict) else value
        for item in items:
            total += self.of(item) + 2
            if total > self.limit:
                break
        self._known[id(value)] = (value, total)
        return total

    def fits(self, value: object, what: str) -> object:
        """A value about to be written: within the limit (strings, the usual case, at once)."""
        if type(value) is str:
            if len(value) > self.limit:
                raise RenderLimit(f"{what} beyond {self.limit:,} characters")
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > MAX_INT_BITS:
                raise RenderLimit(f"{what}: a number of more than {MAX_INT_BITS:,} bits")
        elif self.of(value) > self.limit:
            raise RenderLimit(f"{what} beyond {self.limit:,} characters")
        return value

    def check(self, value: object, what: str = "a value") -> object:
        """A value an operation built: within the limit, and counted against the budget."""
        if isinstance(value, bytes | bytearray | memoryview):
            raise RenderLimit(f"{what}: bytes are not text")
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > MAX_INT_BITS:
                raise RenderLimit(f"{what}: a number of more than {MAX_INT_BITS:,} bits")
            return value
        if self.of(value) > self.limit:
            raise RenderLimit(f"{what} beyond {self.limit:,} characters")
        if isinstance(value, str | list | tuple | dict):
            self.count_built(len(value))
        return value

    def count_built(self, size: int) -> None:
        self.built += size
        if self.built > self.budget:
            raise RenderLimit(f"built more than {self.budget:,} characters in all")

    def allow(self, size: int, what: str) -> None:
        if size > self.limit:
            raise RenderLimit(f"{what} beyond {self.limit:,} characters")

    # The operations that can grow a value in one step, sized from their inputs.

    def repeat(self, seq: object, n: int) -> None:
        self.allow(self.of(seq) * max(n, 0), "a repetition")

    def joined(self, sep: str, items: list[Any]) -> None:
        total = len(sep) * max(len(items) - 1, 0)
        for item in items:
            total += self.of(item)
            self.allow(total, "a join")

    def formatted(self, fmt: str, args: object) -> None:
        """`fmt % args` or `fmt.format(*args)`: every field may write the largest argument,
        padded to the widths written in it."""
        members: Any = args
        if isinstance(args, Mapping):
            members = args.values()
        elif not isinstance(args, list | tuple):
            members = [args]
        largest = max((self.of(a) for a in members), default=0)
        fields = _SPEC.findall(fmt)
        widths = sum(int(n) for spec in fields for n in _NUMBER.findall(spec))
        self.allow(len(fmt) + len(fields) * largest + widths, "a format")

    def replaced(self, s: str, old: str, new: str) -> None:
        grown = (s.count(old) if old else len(s) + 1) * max(len(new) - len(old), 0)
        self.allow(len(s) + grown, "a replace")

    def per_line(self, s: str, lines: int, added: int, what: str) -> None:
        self.allow(len(s) + lines * added, what)

    def power(self, base: object, exponent: object) -> None:
        if not (isinstance(base, int) and isinstance(exponent, int)):
            return
        if exponent > 0 and max(base.bit_length(), 1) * exponent > MAX_INT_BITS:
            raise RenderLimit(f"a power beyond {MAX_INT_BITS:,} bits")

    def product(self, left: object, right: object) -> None:
        both = isinstance(left, int) and isinstance(right, int)
        if both and int(left).bit_length() + int(right).bit_length() > MAX_INT_BITS:  # type: ignore[call-overload]
            raise RenderLimit(f"a product beyond {MAX_INT_BITS:,} bits")
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(n, int):
                self.repeat(seq, n)
