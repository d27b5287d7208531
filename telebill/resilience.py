"""How Telebill's long-running processes meet failure (DESIGN invariant 7).

- An outage (PostgreSQL or Kafka unreachable, a connection dropped) is waited out with
  exponential backoff: `wait_out()` retries the step until it succeeds, logging each wait.
- A background task is supervised: `supervise()` restarts it after an error, with backoff, and
  when it keeps failing for another reason than an outage it stops the process with a one-line
  reason (`TaskFailed`), never leaving a half-working process behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from telebill.domain.redact import redact
from telebill.errors import SchemaBehind, TelebillError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF_S = 30.0
GIVE_UP_AFTER = 5  # failures in a row that are not outages
HEALTHY_AFTER_S = 60.0  # a task that ran this long before failing starts its count again


class TaskFailed(TelebillError):
    """A background task failed again and again: the process stops with this reason."""


def is_outage(exc: BaseException) -> bool:
    """True when `exc` says a service is unreachable for now, not that the work is wrong."""
    if isinstance(exc, SchemaBehind):
        return True  # the migration is another process's step: it comes
    if isinstance(exc, TelebillError) and exc.__cause__ is not None:
        return is_outage(exc.__cause__)  # a one-line explanation of an outage is still one
    if isinstance(exc, OSError | TimeoutError | asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, asyncpg.OperatorInterventionError | asyncpg.InsufficientResourcesError):
        return True  # the server shutting down, starting, or out of connections
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc)  # the connection went away under the query
    if isinstance(exc, KafkaError):
        return bool(getattr(exc, "retriable", False)) or type(exc).__name__ in {
            "KafkaConnectionError",
            "KafkaTimeoutError",
            "NoBrokersAvailable",
            "NodeNotReadyError",
            "RequestTimedOutError",
        }
    return False


def _log_wait(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: %s; waiting %.1f s (try %d)", what, describe(exc), wait, state.attempt_number
        )

    return before_sleep


def describe(exc: BaseException | None) -> str:
    """An error in one line with its type, naming no address or phone number (a database
    error may quote the row's values): for logs, dead letters and attempts."""
    if exc is None:
        return "?"
    text = redact(" ".join(str(exc).split()))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def raise_failed(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Raise the error of a supervised task that gave up, or of a batch that failed: the
    process stops with it."""
    for task in tasks:
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                raise exc


async def wait_out(
    what: str, step: Callable[[], Awaitable[T]], max_wait_s: float = MAX_BACKOFF_S
) -> T:
    """Run `step` until it succeeds, waiting out outages with backoff; any other error is
    raised at once (it is not the service's fault, so waiting would not help)."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_outage),
        wait=wait_exponential_jitter(multiplier=0.5, max=max_wait_s, jitter=0.5),
        before_sleep=_log_wait(what),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await step()
    raise AssertionError("unreachable: tenacity either returns or raises")


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    give_up_after: int = GIVE_UP_AFTER,
    max_wait_s: float = MAX_BACKOFF_S,
) -> None:
    """Keep `run` (a loop that returns when `stop` is set) running. After an error it is
    started again with backoff; outages are waited out however long they last, other errors
    `give_up_after` times in a row end in TaskFailed."""
    loop = asyncio.get_running_loop()
    failures = 0
    wait = 0.5
    while not stop.is_set():
        started = loop.time()
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if loop.time() - started >= HEALTHY_AFTER_S:
                failures, wait = 0, 0.5
            if not is_outage(exc):
                failures += 1
                if failures >= give_up_after:
                    raise TaskFailed(
                        f"{name} failed {failures} times in a row, last: {describe(exc)}"
                    ) from exc
            log.warning("%s: %s; restarting in %.1f s", name, describe(exc), wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(wait * 2, max_wait_s)


Item = TypeVar("Item")


async def each_alone(
    items: Sequence[Item], op: Callable[[Sequence[Item]], Awaitable[T]]
) -> tuple[list[T], list[tuple[Item, Exception]]]:
    """Run `op` on all the items at once; when it refuses them for another reason than an
    outage, run it on each half, and so on, so that only the items it refuses on their own are
    set aside, each with its error. One bad item costs a few extra calls (log2 of the batch),
    never the batch. Inside a transaction, make `op` a savepoint (asyncpg nests transactions
    as savepoints) so a refused call leaves nothing behind. Outages are raised."""
    if not items:
        return [], []
    try:
        return [await op(items)], []
    except Exception as exc:
        if is_outage(exc):
            raise
        if len(items) == 1:
            return [], [(items[0], exc)]
    mid = len(items) // 2
    done_a, refused_a = await each_alone(items[:mid], op)
    done_b, refused_b = await each_alone(items[mid:], op)
    return done_a + done_b, refused_a + refused_b
