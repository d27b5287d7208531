"""Renders that run away from the caller's event loop, in helper processes with a hard limit on
their memory (RLIMIT_AS) and their wall-clock time: a helper that does not answer in time is
killed and replaced.

The API's previews and `templates add` render here: the text comes from a person (a viewer may
preview a draft), and the in-process limits (telebill/rendering/limits.py) are the first fence,
not the only one. A helper is started once and kept, so a preview costs a pipe round trip, not
an interpreter start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from telebill.channels import channel
from telebill.channels.base import RenderedMessage, TemplateSource
from telebill.errors import Busy, Unavailable
from telebill.rendering.context import BillContext
from telebill.rendering.render import TemplateInvalid

STARTUP_S = 60.0


@dataclass(frozen=True)
class Job:
    source: TemplateSource
    contexts: dict[str, BillContext]  # rendered in turn; the first failure is the answer


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def serve() -> None:
    """The helper (`python -c 'from telebill.templates.isolated import serve; serve()' IN OUT
    MEMORY`): imports once, caps its address space at what it holds now plus MEMORY bytes,
    then renders each job read from the file descriptor IN and answers on OUT."""
    jobs = Connection(int(sys.argv[1]), writable=False)
    answers = Connection(int(sys.argv[2]), readable=False)
    memory_bytes = int(sys.argv[3])
    limit = _address_space() + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    answers.send(("ready", None))
    while True:
        try:
            job: Job = jobs.recv()
        except EOFError:  # the parent is gone
            return
        answer: tuple[str, Any]
        try:
            ch = channel(job.source.channel)
            rendered = None
            for shape, context in job.contexts.items():
                try:
                    rendered = ch.render(job.source, context)
                except TemplateInvalid as exc:
                    raise TemplateInvalid(f"{shape}: {exc}" if shape else str(exc)) from None
            answer = ("ok", rendered)
        except TemplateInvalid as exc:
            answer = ("invalid", str(exc))
        except MemoryError:
            answer = ("invalid", f"used more than {memory_bytes // 2**20} MB")
        except Exception as exc:  # whatever else a render raises: the template's fault
            answer = ("invalid", f"{type(exc).__name__}: {exc}"[:500])
        answers.send(answer)


class _Helper:
    """One helper process, started with a command of its own (not multiprocessing's spawn,
    which would import the caller's main module again), talking over two pipes."""

    def __init__(self, memory_bytes: int) -> None:
        job_r, job_w = os.pipe()
        answer_r, answer_w = os.pipe()
        code = "from telebill.templates.isolated import serve; serve()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(job_r), str(answer_w), str(memory_bytes)],
            pass_fds=(job_r, answer_w),
            stdin=subprocess.DEVNULL,
        )
        os.close(job_r)
        os.close(answer_w)
        self.jobs = Connection(job_w, readable=False)
        self.answers = Connection(answer_r, writable=False)
        # The interpreter's start and imports are not part of any render's time.
        if not self.answers.poll(STARTUP_S) or self.answers.recv()[0] != "ready":
            self.kill()
            raise Unavailable(f"the template renderer did not start within {STARTUP_S:g} s")

    def answered_by(self, deadline: float) -> bool:
        """Whether the answer came by `deadline` (time.monotonic()): measured here, in the
        thread that waits, so that a thread started late does not wait longer."""
        return self.answers.poll(max(deadline - time.monotonic(), 0.0))

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.jobs.close()
        self.answers.close()


class IsolatedRenderer:
    """A few helper processes; each render waits for a free one, then for its answer, within
    `timeout_s` in all."""

    def __init__(self, processes: int, timeout_s: float, memory_mb: int) -> None:
        self.timeout_s = timeout_s
        self.memory_bytes = memory_mb * 2**20
        # last in, first out: a started helper is reused before another is started
        self._idle: asyncio.LifoQueue[_Helper | None] = asyncio.LifoQueue()
        for _ in range(processes):
            self._idle.put_nowait(None)  # started when first needed

    async def render(
        self, source: TemplateSource, contexts: dict[str, BillContext]
    ) -> RenderedMessage:
        """The last context's message; `TemplateInvalid` with the first failure (prefixed by
        its shape), or when the render took longer than the timeout or its memory."""
        deadline = time.monotonic() + self.timeout_s
        try:
            helper = await asyncio.wait_for(self._idle.get(), self.timeout_s)
        except TimeoutError:
            raise Busy("every template renderer is busy; try again shortly") from None
        try:
            if helper is None or not helper.alive():
                helper = await asyncio.to_thread(_Helper, self.memory_bytes)
            helper.jobs.send(Job(source, contexts))
            ready = await asyncio.to_thread(helper.answered_by, deadline)
            if not ready:
                await asyncio.to_thread(helper.kill)
                helper = None
                raise TemplateInvalid(
                    f"{source.channel} template: stopped after {self.timeout_s:g} s"
                )
            kind, value = helper.answers.recv()
        except (EOFError, OSError):  # the helper died (out of memory, or killed)
            if helper is not None:
                await asyncio.to_thread(helper.kill)
            helper = None
            raise TemplateInvalid(
                f"{source.channel} template: stopped (more than "
                f"{self.memory_bytes // 2**20} MB or a crash)"
            ) from None
        finally:
            self._idle.put_nowait(helper)
        if kind == "invalid":
            raise TemplateInvalid(value)
        result: RenderedMessage = value
        return result

    def free(self) -> int:
        """How many helpers are waiting for a render."""
        return self._idle.qsize()

    def close(self) -> None:
        while not self._idle.empty():
            helper = self._idle.get_nowait()
            if helper is not None:
                with contextlib.suppress(Exception):
                    helper.kill()
