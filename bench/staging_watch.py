"""What the staging month watches while it runs: Prometheus's alerts (when each began, fired and
cleared), the faults struck on the way, and a timeline of both for the report."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

import httpx

from telebill.staging import monitoring

POLL_S = 5.0


@dataclass
class Seen:
    """One alert (name and labels) as this run saw it."""

    name: str
    labels: str
    pending: float | None = None  # run seconds when first seen pending
    firing: float | None = None
    cleared: float | None = None  # gone again after it was seen

    def line(self) -> str:
        def at(t: float | None) -> str:
            return "-" if t is None else f"{t:,.0f} s"

        return (
            f"{self.name}{self.labels}: pending {at(self.pending)}, firing {at(self.firing)}, "
            f"cleared {at(self.cleared)}"
        )


@dataclass
class Timeline:
    began: float = field(default_factory=time.perf_counter)
    events: list[tuple[float, str]] = field(default_factory=list)
    alerts: dict[tuple[str, str], Seen] = field(default_factory=dict)
    unanswered: int = 0  # polls Prometheus did not answer
    quiet: asyncio.Event = field(default_factory=asyncio.Event)  # no alert pending or firing

    def now(self) -> float:
        return time.perf_counter() - self.began

    def say(self, text: str) -> None:
        t = self.now()
        self.events.append((t, text))
        print(f"  [{t:7.1f} s] {text}", flush=True)

    def saw(self, current: list[monitoring.Alert]) -> None:
        t = self.now()
        keys = set()
        for a in current:
            labels = {k: v for k, v in a.labels.items() if k not in ("alertname", "severity")}
            shown = "{" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
            key = (a.name, shown if labels else "")
            keys.add(key)
            seen = self.alerts.setdefault(key, Seen(*key))
            if seen.cleared is not None:  # back again: a new episode, kept as the last one
                seen.pending = seen.firing = seen.cleared = None
            if seen.pending is None:
                seen.pending = t
                self.say(f"alert {a.name}{key[1]} {a.state}")
            if a.state == "firing" and seen.firing is None:
                seen.firing = t
                if seen.pending != t:  # said just above otherwise
                    self.say(f"alert {a.name}{key[1]} firing")
        for key, seen in self.alerts.items():
            if key not in keys and seen.pending is not None and seen.cleared is None:
                seen.cleared = t
                self.say(f"alert {seen.name}{seen.labels} cleared")
        if self.open_alerts():
            self.quiet.clear()
        else:
            self.quiet.set()

    def open_alerts(self) -> list[Seen]:
        return [s for s in self.alerts.values() if s.pending is not None and s.cleared is None]

    async def cleared(self, within: float) -> bool:
        """Wait (at most `within` s) for a poll that finds no alert pending or firing."""
        self.quiet.clear()  # a reading from now on, not an earlier one
        try:
            await asyncio.wait_for(self.quiet.wait(), within)
        except TimeoutError:
            return False
        return True


async def watch_alerts(timeline: Timeline, stop: asyncio.Event) -> None:
    """Poll Prometheus's alerts until `stop`; a poll it does not answer is counted, not fatal."""
    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            try:
                timeline.saw(await monitoring.alerts(client))
            except (httpx.HTTPError, KeyError, ValueError):
                timeline.unanswered += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)
