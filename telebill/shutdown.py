"""Every long-running process stops within a bounded time after SIGTERM or Ctrl-C.

The first signal sets the process's stop event: it finishes or hands back what it has in flight
(a worker's activities are cancelled after half the time and Temporal retries them elsewhere; a
consumer finishes its batch, commits and leaves its group; the API finishes its requests). A
watchdog thread ends the process `TELEBILL_SHUTDOWN_TIMEOUT_S` after that signal if it has not
ended by then, whatever holds it: an activity that cannot finish (a local activity whose Kafka
topic is away is retried by the Temporal SDK without end, and the SDK's shutdown waits for it),
a Kafka or PostgreSQL that does not answer, a busy event loop. What was not finished is handed
back all the same: a workflow task times out and runs on another worker, an uncommitted Kafka
offset is delivered again (and the delivery key makes the repeat harmless). A second signal
ends the process at once.

A thread, not a task: it fires even when the event loop is blocked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_now(reason: str) -> None:
    """End the process at once (exit status 0: it was asked to stop), saying why in its log
    (or on stderr when it has none)."""
    handlers = logging.getLogger().handlers
    if handlers:
        log.warning("%s", reason)
        for handler in handlers:
            handler.flush()
    else:
        print(reason, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(0)


class Deadline:
    """Arms, on the first stop signal, a watchdog that ends the process `timeout_s` later."""

    def __init__(self, what: str, timeout_s: float, exit_: Callable[[str], None] = exit_now):
        self.what = what
        self.timeout_s = timeout_s
        self.exit = exit_
        self.signalled_at: float | None = None
        self._timer: threading.Timer | None = None

    def signalled(self, name: str) -> bool:
        """Record a stop signal; True for the first one (the caller starts its orderly stop)."""
        if self.signalled_at is not None:
            self.exit(f"{self.what}: {name} again, stopped at once")
            return False
        self.signalled_at = time.monotonic()
        log.info("%s: %s, stopping (at most %g s)", self.what, name, self.timeout_s)
        self._timer = threading.Timer(self.timeout_s, self._expired)
        self._timer.daemon = True
        self._timer.start()
        return True

    def _expired(self) -> None:
        self.exit(
            f"{self.what}: not stopped {self.timeout_s:g} s after the signal, exits now "
            "(what it had in flight is retried elsewhere)"
        )

    def cancel(self) -> None:
        """The process stopped in time: the watchdog ends without firing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()


def stop_on_signals(what: str, timeout_s: float, stop: asyncio.Event) -> Deadline:
    """SIGINT/SIGTERM set `stop`, and the process ends `timeout_s` later at the latest."""
    deadline = Deadline(what, timeout_s)
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if deadline.signalled(sig.name):
            stop.set()

    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    return deadline
