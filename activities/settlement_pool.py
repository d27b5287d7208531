"""The settlement's pricing on the machine's other cores: a pool of processes, one per worker
process, that every shard's chunks share. The worker's event loop reads a chunk, hands its rows
to the pool, and reads or writes other shards' chunks while it is priced; one process prices in
Python on one core, so without the pool the settlement took turns on a single core.

With `processes=0` the chunk is priced on the event loop, as before the pool.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from telebill.db.settlement_copy import ChunkRows, PricedChunk, price_chunk
from telebill.domain.pricing import Product

log = logging.getLogger(__name__)
WATCH_S = 2.0  # how often a pricing process looks whether its worker is still there


class PricingPool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self.restarts = 0  # pools started again after a process died (tests and logs read it)
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor | None:
        if self.processes == 0:
            return None
        # forkserver, not fork: the worker has threads (the SDK's), which a fork would copy
        # in whatever state they are
        context = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_serve, initargs=(os.getpid(),)
        )

    async def price(self, rows: ChunkRows, products: dict[int, Product]) -> PricedChunk:
        if self._executor is None:
            return price_chunk(rows, products)
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, price_chunk, rows, products
            )
        except BrokenProcessPool:
            # A process of the pool died (killed, out of memory): the pool is unusable from
            # then on, so a new one takes its place (once, whichever of the chunks in flight
            # sees it first) and the chunk fails, to be retried.
            if self._executor is executor:
                log.warning("a pricing process died: the pool is started again")
                self._executor = self._start()
                self.restarts += 1
                _stop(executor)
            raise

    def warm(self) -> None:
        """Start the processes now, not on the month's first chunk: a worker that settles
        starts them with itself, so a settlement does not wait for their start (their
        forkserver's and their own imports, about a second of CPU here) and the worker's
        memory is what it will be from the start (a process stays once started)."""
        if self._executor is not None:
            for _ in range(self.processes):
                self._executor.submit(_ready)

    def pids(self) -> list[int]:
        """The pricing processes now (tests and the benchmark read them)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return list(processes)

    def close(self) -> None:
        if self._executor is not None:
            _stop(self._executor)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Shut down without waiting, and end its processes: a process left alive keeps the
    executor's manager thread waiting for it, and the interpreter from exiting (the module's
    exit hook joins that thread)."""
    executor.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.terminate()


def _ready() -> None:
    """Nothing: calling it in a pricing process starts it and imports this module (and the
    pricing with it)."""


def _serve(worker_pid: int) -> None:
    """A pricing process's start. Ctrl-C reaches the whole process group, and a pricing
    process that took it would hand the worker a KeyboardInterrupt as a chunk's result: it is
    ignored, the worker decides. SIGTERM is not: the executor ends the processes of a broken
    pool with it, and waits for them, for ever, if they ignore it. And a pricing process does
    not outlive its worker: a worker killed, or gone before it closed the pool, would leave it
    waiting for work for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while _alive(worker_pid):
            time.sleep(WATCH_S)
        os._exit(0)

    threading.Thread(target=watch, name="worker-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """Whether process `pid` runs: not gone, and not a zombie (exited, its parent has not
    waited for it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: whether the pid exists at all
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
