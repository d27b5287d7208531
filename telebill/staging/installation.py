"""The staging installation on this machine, brought up, reported and removed: the stack in the
production layout (`telebill stack up` with the production Temporal server and three brokers;
or, to compare, on the dev layout's servers), the set-up the compose file's `setup` service
runs, each role's process, Nginx and Prometheus.

Everything is started as a plain process of the images' entry point (`telebill …`) with the
installation's environment, detached, its pid and log in the installation's folder; `up` is
idempotent (it starts what is not running, as a restart policy would) so that a process killed
on purpose comes back with the next `up`."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from telebill.stack.process import (
    StackError,
    claim_ports,
    port_answers,
    running_pid,
    spawn,
    stop_pid,
    wait_until,
)
from telebill.staging import layout, monitoring, proxy

TELEBILL = str(Path(sys.executable).parent / "telebill")
MARKERS = {"nginx": "nginx", "prometheus": "prometheus"}
TOKEN = re.compile(r"token \(shown once\): (\S+)")


@dataclass(frozen=True)
class Running:
    name: str
    pid: int | None
    healthy: bool
    where: str


class Staging:
    def __init__(self, root: Path, main_stack: Path, say: Callable[[str], None] = print) -> None:
        self.root = root
        self.main_stack = main_stack  # whose cache (Kafka's jars, the Temporal server) it shares
        self.say = say
        self.roles = layout.roles()

    # -- where things are ------------------------------------------------------------------
    def pid_file(self, name: str) -> Path:
        return self.root / "run" / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    @property
    def token_file(self) -> Path:
        return self.root / "secrets" / "api-token"

    def clock_offset_s(self) -> float:
        """The installation's clock offset (TELEBILL_CLOCK_OFFSET_S), kept in its folder so that
        a process started again gets the one the others run with."""
        try:
            return float((self.root / "clock-offset").read_text())
        except (OSError, ValueError):
            return 0.0

    @property
    def tuned_file(self) -> Path:
        return self.root / "tuned.json"

    @property
    def infrastructure_file(self) -> Path:
        return self.root / "infrastructure"

    def infrastructure(self) -> layout.Infrastructure:
        """What the installation was brought up on (kept in its folder: production until then)."""
        try:
            return layout.Infrastructure(self.infrastructure_file.read_text().strip())
        except (OSError, ValueError):
            return layout.Infrastructure.PRODUCTION

    def keep_infrastructure(self, asked: layout.Infrastructure | None) -> layout.Infrastructure:
        """The servers the installation runs on: `asked` (production when None) the first time,
        kept in its folder; then the same, and another refused (its data is on the first)."""
        if not self.infrastructure_file.exists():
            # a folder with data and no choice recorded was made before there was one: production
            made = any((self.root / part).exists() for part in ("postgres", "kafka"))
            first = layout.Infrastructure.PRODUCTION if made or asked is None else asked
            self.root.mkdir(parents=True, exist_ok=True)
            self.infrastructure_file.write_text(first.value)
        was = self.infrastructure()
        if asked is not None and asked is not was:
            raise StackError(
                f"the installation runs on the {was} servers: `telebill staging down` "
                f"before bringing it up on the {asked} ones"
            )
        return was

    def tuned(self) -> dict[str, str]:
        """The TUNABLE settings the installation was brought up with (kept in its folder, so
        that a process started again later, from another shell, gets the same)."""
        try:
            kept = json.loads(self.tuned_file.read_text())
        except (OSError, ValueError):
            return layout.tuned_now()
        return {k: str(kept.get(k, v)) for k, v in layout.TUNABLE.items()}

    def settings(self) -> dict[str, str]:
        """Its TELEBILL_* settings, as each of its processes gets them (`telebill staging env`)."""
        return layout.settings_env(
            self.root, self.clock_offset_s(), self.tuned(), self.infrastructure()
        )

    def env(self) -> dict[str, str]:
        """The environment of its processes: this machine's without another installation's
        settings, and its own."""
        own = layout.without_settings(dict(os.environ)) | self.settings()
        return own | {"COLUMNS": "400"}  # one line per message in what `telebill` prints

    def role(self, name: str) -> layout.Role:
        for r in self.roles:
            if r.name == name:
                return r
        raise StackError(f"no role {name!r}; the roles are {', '.join(r.name for r in self.roles)}")

    # -- bringing it up --------------------------------------------------------------------
    def telebill(self, *argv: str, what: str) -> str:
        """`telebill <argv>` with the installation's environment, to its end."""
        done = subprocess.run(
            [TELEBILL, *argv], env=self.env(), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise StackError(f"{what} failed: {lines[-1] if lines else done.returncode}")
        return done.stdout

    def share_cache(self) -> None:
        """The main stack's cache (Kafka's jars, the Temporal server built once) is this one's."""
        cache = self.root / "cache"
        if not cache.exists() and not cache.is_symlink():
            (self.main_stack / "cache").mkdir(parents=True, exist_ok=True)
            self.root.mkdir(parents=True, exist_ok=True)
            cache.symlink_to((self.main_stack / "cache").resolve())

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """One `up` or `down` at a time: two at once would start every role twice or remove
        what the other starts. The second one is refused, naming the first one's pid. The lock
        is beside the installation's folder (the same file whichever stack folder the command
        was given), not in the folder a `down` deletes while holding it."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        with open(self.root.with_name(self.root.name + ".lock"), "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "?"
                raise StackError(
                    f"another `telebill staging` command (pid {holder}) is changing "
                    f"{self.root}: wait for it to end"
                ) from None
            lock.seek(0)
            lock.truncate()
            lock.write(str(os.getpid()))
            lock.flush()
            yield

    async def up(self, infrastructure: layout.Infrastructure | None = None) -> None:
        """`infrastructure` None: the one it was brought up on (production the first time)."""
        with self.changing():
            await self._up(infrastructure)

    async def _up(self, infrastructure: layout.Infrastructure | None) -> None:
        self.share_cache()
        chosen = self.keep_infrastructure(infrastructure)
        if not self.tuned_file.exists():
            self.tuned_file.write_text(json.dumps(layout.tuned_now(), indent=2))
        self.say(f"the stack: {layout.describe(chosen)}…")
        await asyncio.to_thread(self.telebill, "stack", "up", what="telebill stack up")
        await asyncio.to_thread(
            self.telebill, "schedules", "install", what="telebill schedules install"
        )
        self.api_token()
        await self.start_roles()
        await self.start_proxy()
        await self.start_prometheus()

    async def start_roles(self) -> None:
        """Every role that is not running started again (the services and Schedules as they
        are): what a restart policy does."""
        for role in self.roles:
            await self.start_role(role)

    def api_token(self) -> str:
        """An admin user of the API for the staging runs, its token kept 0600 in the folder."""
        if self.token_file.exists():
            return self.token_file.read_text().strip()
        out = self.telebill(
            "api", "user", "add", "--name", "staging", "--role", "admin", "--days", "30",
            what="telebill api user add",
        )  # fmt: skip
        found = TOKEN.search(out)
        if found is None:
            raise StackError("telebill api user add printed no token")
        self.token_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(found.group(1) + "\n")
        return found.group(1)

    async def start_role(self, role: layout.Role) -> None:
        if self.pid(role.name) is not None:
            return
        # a process of an earlier run may still be letting go of one: 30 s, then its port named
        for tries_left in reversed(range(60)):
            try:
                claim_ports(role.ports)
                break
            except StackError as exc:
                if not tries_left:
                    raise StackError(f"{role.name}: {exc}") from None
                await asyncio.sleep(0.5)
        env = self.env()
        if not role.serves_http:
            env["TELEBILL_METRICS_PORT"] = str(role.port)
        log = self.log_file(role.name)
        self.pid_file(role.name).parent.mkdir(parents=True, exist_ok=True)
        proc = spawn(
            [TELEBILL, *role.argv], log_file=log, pid_file=self.pid_file(role.name), env=env
        )
        await wait_until(
            lambda: answers(role.port, role.health),
            within=120,
            what=f"{role.name} (telebill {' '.join(role.argv)})",
            proc=proc,
            log_file=log,
        )
        self.say(f"{role.name:<22} pid {proc.pid}, port {role.port}")

    async def start_proxy(self) -> None:
        folder = self.root / "nginx"
        if self.pid("nginx") is not None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "telebill.crt").exists():
            await asyncio.to_thread(proxy.certificate, folder)
        (folder / "telebill.key").chmod(0o600)  # an installation made before it was kept so
        main = proxy_site(folder)
        await asyncio.to_thread(proxy.check_conf, main, folder)
        proc = spawn(
            proxy.nginx_argv(main, folder),
            log_file=self.log_file("nginx"),
            pid_file=self.pid_file("nginx"),
        )
        await wait_until(
            lambda: asyncio.to_thread(port_answers, layout.HTTPS_PORT),
            within=30,
            what="nginx",
            proc=proc,
            log_file=folder / "error.log",
        )
        self.say(f"{'nginx':<22} pid {proc.pid}, https://127.0.0.1:{layout.HTTPS_PORT}")

    async def start_prometheus(self) -> None:
        folder = self.root / "prometheus"
        if self.pid("prometheus") is not None:
            return
        config = monitoring.write_config(folder, self.roles)
        proc = spawn(
            monitoring.prometheus_argv(config, folder),
            log_file=self.log_file("prometheus"),
            pid_file=self.pid_file("prometheus"),
        )

        async def ready() -> bool:
            async with httpx.AsyncClient() as client:
                return await monitoring.ready(client)

        await wait_until(
            ready, within=60, what="prometheus", proc=proc, log_file=self.log_file("prometheus")
        )
        self.say(f"{'prometheus':<22} pid {proc.pid}, http://127.0.0.1:{layout.PROMETHEUS_PORT}")

    # -- while it runs ---------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        return running_pid(self.pid_file(name), MARKERS.get(name, TELEBILL))

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Kill a role's process (its whole group: a consumer service's processes too)."""
        pid = self.pid(name)
        if pid is None:
            raise StackError(f"{name} is not running")
        os.killpg(pid, sig)
        return pid

    async def set_clock(self, offset_s: float) -> None:
        """Every role started again with this clock offset (the services keep running)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "clock-offset").write_text(repr(offset_s))
        await asyncio.to_thread(self.stop_roles)
        await self.start_roles()

    async def status(self) -> list[Running]:
        out = []
        for r in self.roles:
            pid = self.pid(r.name)
            healthy = pid is not None and await answers(r.port, r.health)
            out.append(Running(r.name, pid, healthy, f"127.0.0.1:{r.port}"))
        for name, port in (("nginx", layout.HTTPS_PORT), ("prometheus", layout.PROMETHEUS_PORT)):
            pid = self.pid(name)
            up = pid is not None and await asyncio.to_thread(port_answers, port)
            out.append(Running(name, pid, up, f"127.0.0.1:{port}"))
        return out

    # -- taking it down --------------------------------------------------------------------
    def stop_roles(self) -> None:
        """Every role stopped at once (each given its shutdown time), then its group killed:
        a scaler's processes too."""

        def stop(pid: int) -> None:
            stop_pid(pid, TELEBILL, timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

        pids = [p for r in self.roles if (p := self.pid(r.name)) is not None]
        with ThreadPoolExecutor(max(len(pids), 1)) as pool:
            list(pool.map(stop, pids))

    def down(self, purge: bool) -> None:
        if not self.root.exists():
            return
        with self.changing():
            self._down(purge)

    def _down(self, purge: bool) -> None:
        for name in ("prometheus", "nginx"):
            pid = self.pid(name)
            if pid is not None:
                stop_pid(pid, MARKERS[name], timeout=30)
        self.stop_roles()
        if (self.root / "postgres").exists() or (self.root / "kafka").exists():
            self.telebill("stack", "down", *(["--purge"] if purge else []), what="stack down")
        if purge:  # the folder, its logs and secrets too (the shared cache is only linked)
            shutil.rmtree(self.root, ignore_errors=True)


def proxy_site(folder: Path) -> Path:
    """The shipped Nginx site on the layout's ports, in `folder`: its main configuration."""
    return proxy.proxy_conf(
        layout.deploy_file("nginx", "telebill.conf"),
        folder,
        layout.HTTPS_PORT,
        layout.HTTP_PORT,
        layout.API_PORT,
        layout.WEB_PORT,
    )


async def answers(port: int, path: str) -> bool:
    """The process on `port` answers its health `path` with 200."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            answer = await client.get(f"http://127.0.0.1:{port}{path}")
    except httpx.HTTPError:
        return False
    return answer.status_code == 200
