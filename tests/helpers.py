"""Small helpers shared by the test layers."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from telebill.stack.process import port_is_free


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the `telebill` command as a user would, in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_low_ports(count: int) -> int:
    """A port p with p … p+count-1 free, below the kernel's ephemeral range, so that no client
    connection takes one of them between this check and the bind (one did once, at 48516)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        base = random.randrange(max(1024, low - 12_000), low - count)
        if all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} free ports in a row")


async def all_by_email(conn: Any) -> None:
    """The seeded members choose channels in a realistic mix; tests of the e-mail → SMS chain
    give everyone e-mail (the chains of the other channels have their own tests)."""
    await conn.execute("UPDATE member SET bill_channel = 'email'")


async def other_clients(conn: Any) -> set[str]:
    """The database users of the other sessions on `conn`'s database. Background workers
    (an autovacuum worker among them) have no user and are left out; by `usename`, since a
    role that may not read all statistics sees other roles' `backend_type` as null."""
    users = await conn.fetchval(
        "SELECT array_agg(DISTINCT usename::text) FROM pg_stat_activity WHERE datname ="
        " current_database() AND pid <> pg_backend_pid() AND usename IS NOT NULL"
    )
    return set(users or [])


async def eventually(
    check: Callable[[], Awaitable[bool]],
    what: str,
    within: float = 60,
    alive: Sequence[subprocess.Popen[str]] = (),
    every: float = 0.2,
) -> None:
    """Wait until `check()` is true (`what` says what it waits for). Fails after `within`
    seconds, or at once when one of the `alive` processes has exited meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        for p in alive:
            assert p.poll() is None, f"waiting for {what}: process {p.pid} exited ({p.returncode})"
        assert loop.time() < deadline, f"waited {within:g} s for {what}, in vain"
        await asyncio.sleep(every)
