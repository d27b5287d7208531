"""Time and memory bounds per byte, as ratios against a linear pass measured in the same run
(never an absolute time: the machines are shared and noisy)."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any


def seconds(f: Callable[[], Any]) -> float:
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def linear_pass(n: int) -> float:
    """The unit a decision is measured in: the standard library decoding n bytes of JSON made of
    as many values as n bytes can hold (one Python object per two bytes), the decoder's own
    costliest linear work."""
    doc = b"[" + b"0," * (n // 2) + b"0]"
    return min(seconds(lambda: json.loads(doc)) for _ in range(3))


def peak_bytes(f: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_linear(f: Callable[[], Any], n: int, per_byte: float = 30, memory: int = 60) -> None:
    """`f`, given n bytes, takes no more than `per_byte` linear passes over them (plus 250 ms
    for what does not grow with n, and a busy machine's pauses) and holds no more than `memory`
    bytes per byte (plus 4 MB: a JSON document of small values is ~20 Python bytes per byte,
    and a copy of it another 20). A quadratic step fails this by orders of magnitude (64 KB of
    a quadratic decoder took 19 s; 20,000 characters of a quadratic pattern 1 s)."""
    elapsed = seconds(f)
    allowed = per_byte * linear_pass(n) + 0.25
    if elapsed > allowed:  # a pause of the machine's (CI saw 0.286 s against 0.274): best of 3
        elapsed = min(elapsed, *(seconds(f) for _ in range(2)))
    assert elapsed <= allowed, f"{elapsed:.3f} s for {n:,} bytes (allowed {allowed:.3f} s)"
    held = peak_bytes(f)
    assert held <= memory * n + 4_000_000, f"{held:,} bytes held for {n:,} bytes"
