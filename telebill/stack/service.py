"""What every service of the local stack offers: status, up, down (the manager drives them)."""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from telebill.config import Settings
from telebill.stack.process import StackError, claim_ports, running_pid, stop_pid


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    address: str
    managed: bool  # False when an address from the environment is used instead of a local process
    data_dir: str | None
    pid: int | None
    detail: str = ""
    disk_bytes: int | None = None  # what its data folder holds (a local service's)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Service(ABC):
    name: str
    env_var: str  # the variable that, when set, points at an existing service

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.stack_dir / self.name
        self.pid_file = self.dir / "pid"
        self.log_file = self.dir / f"{self.name}.log"

    # -- what each service defines -------------------------------------------------------------
    @property
    @abstractmethod
    def external(self) -> bool: ...

    @property
    @abstractmethod
    def address(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> list[int]: ...

    @abstractmethod
    async def answers(self) -> bool:
        """A real request to the service (not just an open port) succeeded."""

    @abstractmethod
    async def _start(self) -> None:
        """Prepare (first use) and start the local process, then wait until it answers."""

    async def after_start(self) -> None:  # noqa: B027 - optional hook
        """Idempotent set-up, also for an external service (topics, search attributes)."""

    # -- shared behaviour ----------------------------------------------------------------------
    @property
    def marker(self) -> str:
        """A string in the command line of our process; a pid holding it is ours."""
        return str(self.dir)

    def pid(self) -> int | None:
        return running_pid(self.pid_file, self.marker)

    async def status(self) -> ServiceStatus:
        pid = None if self.external else self.pid()
        running = await self.answers() if (self.external or pid) else False
        return ServiceStatus(
            name=self.name,
            running=running,
            address=self.address,
            managed=not self.external,
            data_dir=None if self.external else str(self.dir),
            pid=pid,
            detail=f"from {self.env_var}" if self.external else "",
            disk_bytes=None if self.external else folder_size(self.dir),
        )

    async def up(self) -> str:
        if self.external:
            if not await self.answers():
                raise StackError(f"{self.env_var}={self.address} does not answer")
            await self.after_start()
            return f"using {self.address} from {self.env_var}"
        pid = self.pid()
        if pid is not None:
            if await self.answers():
                await self.after_start()
                return f"already running on {self.address} (pid {pid})"
            raise StackError(
                f"process {pid} is running but does not answer on {self.address} "
                f"(see {self.log_file}; `telebill stack down` stops it)"
            )
        claim_ports(self.ports)
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._start()
        except BaseException:
            # Leave nothing half-started behind: the next `up` starts from a clean slate.
            started = self.pid()
            if started is not None:
                self._stop(started)
            raise
        await self.after_start()
        return f"started on {self.address} (pid {self.pid()})"

    def down(self, purge: bool = False) -> str:
        if self.external:
            return f"left alone ({self.env_var} is set)"
        pid = self.pid()
        if pid is not None:
            self._stop(pid)
        said = f"stopped (pid {pid})" if pid else "not running"
        self.pid_file.unlink(missing_ok=True)
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)
            said += f", data deleted ({self.dir})"
        return said

    def _stop(self, pid: int) -> None:
        stop_pid(pid, self.marker)


def folder_size(path: Path) -> int:
    """Bytes on disk of the files under `path` (0 when it does not exist): a Temporal server's
    database grows by about 20 KB per workflow, so this is worth watching."""
    total = 0
    for f in path.rglob("*"):
        try:
            if not f.is_symlink():  # folders too: Kafka has thousands of partition folders
                total += f.stat().st_blocks * 512  # on disk: Kafka's indexes are sparse
        except OSError:  # a file that went away while counting
            continue
    return total


def reachable_by_others(path: Path) -> bool:
    """Whether another (unprivileged) user can enter every folder on the way to `path`."""
    return all(p.stat().st_mode & 0o001 for p in [*path.parents, path] if p.exists())
