"""JSON read from a topic within bounds decided before any parsing: a size, a nesting depth and
a number of digits. Whatever the bytes, `loads` returns a value or raises `Unreadable` with a
reason a person can act on, in time and memory linear in the bytes (DESIGN invariant 7).

The standard library's decoder alone is not enough: it converts an integer of 5,000 digits
with a `ValueError` (Python's 4,300-digit limit), recurses into `[[[[…` until `RecursionError`,
and reads a megabyte as readily as a hundred bytes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Any, NoReturn


class Unreadable(ValueError):
    """The bytes are not JSON within the bounds; the message says why."""


@dataclass(frozen=True)
class JsonBounds:
    max_bytes: int
    max_depth: int = 32
    max_digits: int = 40  # of one number (a bigint has 19; a UUID is a string)
    # NaN, Infinity and 1e999 read as floats for the caller to judge, rather than refused
    non_finite: bool = False


# A JSON string, escapes included, written so that nothing backtracks (the characters a string
# holds and its escapes cannot both match); or a quote that opens a string never closed, which
# takes the rest of the bytes with it. Without that second branch each escaped quote after an
# unclosed one would start a search to the end: quadratic (64 KB of `\"` took 19 s).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|".*', re.DOTALL)
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_STEP = [0] * 256
for _c in b"[{":
    _STEP[_c] = 1
for _c in b"]}":
    _STEP[_c] = -1


def _depth(raw: bytes) -> int:
    """The deepest nesting in `raw`: strings taken out, then a running sum over the brackets
    (all of it in C: a megabyte of brackets takes milliseconds)."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _refuse_constant(name: str) -> NoReturn:
    raise Unreadable(f"not JSON: {name} is not a number JSON allows")


def _constant(name: str) -> float:
    return float(name)  # NaN, Infinity, -Infinity


@lru_cache(maxsize=8)
def _decoder(bounds: JsonBounds) -> json.JSONDecoder:
    """One decoder per set of bounds (json.loads with hooks would build one per message)."""

    def number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
        def parse(text: str) -> int | float:
            if len(text) > bounds.max_digits:
                raise Unreadable(f"a number of {len(text):,} characters")
            value = kind(text)
            if isinstance(value, float) and not math.isfinite(value) and not bounds.non_finite:
                raise Unreadable(f"a number out of range ({text})")
            return value

        return parse

    return json.JSONDecoder(
        parse_int=number(int),
        parse_float=number(float),
        parse_constant=_constant if bounds.non_finite else _refuse_constant,
    )


def loads(raw: bytes | None, bounds: JsonBounds) -> Any:
    """The JSON value of `raw`, or `Unreadable` with why."""
    if not raw:
        raise Unreadable("empty message")
    if len(raw) > bounds.max_bytes:
        raise Unreadable(f"{len(raw):,} bytes, more than the {bounds.max_bytes:,} allowed")
    # Every bracket counted is at most one level: few brackets need no walk (every real event).
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > bounds.max_depth and _depth(raw) > bounds.max_depth:
        raise Unreadable(f"not JSON: nested deeper than {bounds.max_depth} levels")

    try:
        # not json's guess among UTF-8, -16 and -32
        return _decoder(bounds).decode(raw.decode("utf-8"))
    except Unreadable:
        raise
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not JSON: not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise Unreadable(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except Exception as exc:  # RecursionError, MemoryError, …: still this message's fault alone
        raise Unreadable(f"not JSON: {type(exc).__name__}") from None
