"""Requests per client address: a token bucket each, in this process's memory.

A bucket holds up to `burst` requests and refills at `per_minute`. The addresses kept are
bounded: past `max_addresses`, the one seen least recently is forgotten (it comes back with a
full bucket), so a crowd of addresses costs a bounded amount of memory and nothing else. Each
process of the page keeps its own buckets; Nginx's `limit_req` is the fence shared by all
(deploy/nginx/telebill.conf).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ADDRESSES = 65_536


class TokenBuckets:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_addresses = max_addresses
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, address: str) -> float:
        """0 when `address` may make a request now (one token taken), else the seconds until
        it may."""
        now = self.clock()
        tokens, at = self._buckets.pop(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[address] = (tokens, now)
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait_s: float) -> str:
    """Retry-After in whole seconds, never 0 for a refusal."""
    return str(max(1, math.ceil(wait_s)))
