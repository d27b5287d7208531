"""The relays bench/smtp.py sends into: none (the simulated provider), aiosmtpd taking every
message in a process of its own, or a private Postfix delivering into one Maildir; each with
the settings that point `telebill consume email` at it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import tree_cpu_seconds
from tests.integration.postfix_relay import PostfixRelay, postfix_running

ROOT = Path(__file__).resolve().parent.parent  # where `bench` is imported from
STALL_S = 120.0  # a Postfix queue that does not shrink this long: it is stuck


@dataclass
class Relay:
    env: dict[str, str] = field(default_factory=dict)  # the consumers' settings
    postfix: PostfixRelay | None = None
    pid: int | None = None  # the relay's server process (Postfix's master), for its CPU

    def cpu_s(self) -> float:
        """The CPU the relay has used so far (0: no relay)."""
        return tree_cpu_seconds(self.pid) if self.pid is not None else 0.0

    async def settled(self, sent: int, started: float) -> str:
        """What became of the messages once the consumers were done: for Postfix, how long
        from `started` (the first event published) until its queue was empty, and what its
        Maildir holds."""
        if self.postfix is None:
            return ""
        pf, left, moved = self.postfix, -1, time.perf_counter()
        while queued := pf.queued():
            if queued != left:
                left, moved = queued, time.perf_counter()
            elif time.perf_counter() - moved > STALL_S:
                return f"Postfix's queue stuck at {queued:,} ({pf.deferred():,} deferred)"
            await asyncio.sleep(0.5)
        seconds = time.perf_counter() - started
        delivered = len(pf.delivered())
        return (
            f"Postfix delivered {delivered:,} of the {sent:,} into its Maildir "
            f"{seconds:.1f} s after the first event was published ({delivered / seconds:,.0f}/s)"
        )


def smtp_env(port: int) -> dict[str, str]:
    return {
        "TELEBILL_EMAIL_PROVIDER": "smtp",
        "TELEBILL_SMTP_HOST": "127.0.0.1",
        "TELEBILL_SMTP_PORT": str(port),
        "TELEBILL_SMTP_TLS": "none",
    }


@contextlib.asynccontextmanager
async def relay_for(provider: str, domains: Sequence[str], logs: Path) -> AsyncIterator[Relay]:
    """The relay of `provider` running until the block ends; `domains`: the members'."""
    if provider == "simulated":
        yield Relay()
    elif provider.startswith("aiosmtpd"):
        handler = "SerialSink" if provider == "aiosmtpd-serial" else "Sink"
        async with sink_running(logs / f"{provider}.log", handler) as (port, pid):
            yield Relay(smtp_env(port), pid=pid)
    else:
        async with postfix_running(catch_all=domains) as postfix:
            master = postfix.root / "queue" / "pid" / "master.pid"
            yield Relay(smtp_env(postfix.port), postfix, int(master.read_text().split()[0]))


@contextlib.asynccontextmanager
async def sink_running(log: Path, handler: str) -> AsyncIterator[tuple[int, int]]:
    """`python -m aiosmtpd` with `handler` of bench/smtp_sink.py on a free loopback port
    (yielded, with the process's id)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    args = ["-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", f"bench.smtp_sink.{handler}"]
    with log.open("ab") as out:  # the child keeps its own descriptor
        sink = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=out, stderr=out, cwd=ROOT
        )
    try:
        deadline = time.perf_counter() + 30
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if sink.returncode is not None or time.perf_counter() > deadline:
                    raise SystemExit(f"aiosmtpd did not start (see {log})") from None
                await asyncio.sleep(0.05)
        yield port, sink.pid
    finally:
        if sink.returncode is None:
            sink.terminate()
        await sink.wait()
