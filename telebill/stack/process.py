"""Process and port helpers shared by the local services: pid files, liveness, waiting, stopping."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol

from telebill.errors import TelebillError


class StackError(TelebillError):
    """A one-line reason why a service could not be brought up, checked or stopped."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def claim_ports(ports: Sequence[int]) -> None:
    """Raise a one-line StackError naming the first of `ports` another program holds."""
    for port in ports:
        if not port_is_free(port):
            raise StackError(f"port {port} in use by another program")


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int, marker: str) -> bool:
    """True when `pid` runs and its command line holds `marker` (guards against a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) has exited; it only waits for its parent to reap it.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and marker in cmdline


def running_pid(pid_file: Path, marker: str) -> int | None:
    pid = read_pid(pid_file)
    return pid if pid is not None and pid_alive(pid, marker) else None


def spawn(
    argv: Sequence[str],
    *,
    log_file: Path,
    pid_file: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived service detached from this process (own session), recording its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def stop_pid(
    pid: int, marker: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 60
) -> None:
    """Send `sig`, wait for the process to end, and kill it if it does not end in time."""
    if not pid_alive(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, marker):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Owned(Protocol):
    """One of the stack's processes: a service or one Kafka node."""

    @property
    def marker(self) -> str: ...

    def pid(self) -> int | None: ...


def signal_owned(target: Owned, what: str, sig: signal.Signals = signal.SIGKILL) -> int:
    """Signal one of the stack's processes as a fault does and wait for it to end; its pid.
    StackError, naming `what`, when it is not running."""
    pid = target.pid()
    if pid is None:
        raise StackError(f"{what} is not running")
    stop_pid(pid, target.marker, sig, timeout=30)
    return pid


def log_tail(log_file: Path, lines: int = 1) -> str:
    try:
        text = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])


async def wait_until(
    probe: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log_file: Path | None = None,
) -> None:
    """Poll `probe` until it answers True; fail at once if `proc` exits, else after `within`."""
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(Exception):
            if await probe():
                return
        hint = f" (log: {log_file})" if log_file else ""
        if proc is not None and proc.poll() is not None:
            last = log_tail(log_file, 1) if log_file else ""
            code = proc.returncode
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            raise StackError(f"{what} exited while starting ({how}){hint}: {last}".rstrip(": "))
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not answer within {within:.0f} s{hint}")
        await asyncio.sleep(0.5)


def run_checked(argv: Sequence[str], *, what: str, **kwargs: object) -> str:
    """Run a set-up command; on failure raise a one-line StackError with its last output line."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    except FileNotFoundError as exc:
        raise StackError(f"{what}: {argv[0]} not found") from exc
    if proc.returncode != 0:
        out = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise StackError(f"{what} failed: {out[-1] if out else f'exit {proc.returncode}'}")
    return str(proc.stdout)
