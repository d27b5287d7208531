"""PostgreSQL from Debian's server binaries, run as an unprivileged user when started as root."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import pwd
import shutil
import signal
from pathlib import Path

import asyncpg

from telebill.config import asyncpg_dsn
from telebill.credentials import ensure_credentials
from telebill.db import cluster_admin
from telebill.db.cluster_admin import set_password as set_password  # imported from here too
from telebill.domain.db_roles import DbRole
from telebill.stack.process import StackError, run_checked, spawn, stop_pid, wait_until
from telebill.stack.service import Service, reachable_by_others

DB_NAME = "telebill"
# The cluster's superuser: the stack's own administration only (roles, databases, Temporal's
# databases). Its password, and each role's, is generated at the first `up` (credentials.py);
# a stack made before that still has this one until its next `up` changes it.
SUPERUSER = "telebill"
LEGACY_PASSWORD = "telebill"

# Tuned for bulk COPY of millions of rows on a small machine; durability (fsync, synchronous
# commit) stays on because bills are money.
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "200",
    "shared_buffers": "1GB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "wal_compression": "on",
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] ",
    # the time of each statement and of its block reads, for `bench.settle` and operators
    "track_io_timing": "on",
}
# PostgreSQL's own view of where its time goes, by statement; loaded where the server has it
# (Debian's postgresql-NN package does). Its cost is a hash lookup per statement.
STATEMENT_STATS = "pg_stat_statements"


def server_bin_dir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise StackError("PostgreSQL server binaries not found (apt-get install postgresql)")


def server_user() -> str | None:
    """PostgreSQL refuses to run as root; pick the unprivileged account Debian's package creates."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise StackError("running as root and no unprivileged user 'postgres' exists to run PostgreSQL")


class Postgres(Service):
    name = "postgres"
    env_var = "DATABASE_URL"

    @property
    def external(self) -> bool:
        return self.settings.database_url is not None

    @property
    def address(self) -> str:
        if self.external:
            return self.settings.db_url.split("@")[-1]
        return f"127.0.0.1:{self.settings.pg_port}"

    @property
    def ports(self) -> list[int]:
        return [self.settings.pg_port]

    @property
    def data_dir(self) -> Path:
        link = self.dir / "data"
        return link.resolve() if link.is_symlink() else link

    @property
    def marker(self) -> str:
        return str(self.data_dir)

    def _place_data_dir(self, user: str | None) -> None:
        """Where the checkout lies under a folder the server user cannot enter (e.g. /root, 0700),
        keep the cluster in /var/lib/telebill and link it from the stack folder."""
        link = self.dir / "data"
        if link.exists() or link.is_symlink() or not user or reachable_by_others(self.dir):
            return
        key = hashlib.sha1(str(self.dir).encode()).hexdigest()[:12]
        target = Path("/var/lib/telebill") / key / "data"
        target.parent.mkdir(parents=True, exist_ok=True)
        Path("/var/lib/telebill").chmod(0o755)
        self._chown(target.parent, user)
        link.symlink_to(target)

    def passwords(self) -> dict[str, str]:
        """Every role's password, generated for those that have none yet."""
        roles = [SUPERUSER, *(role.login for role in DbRole)]
        return ensure_credentials(self.settings.stack_dir, roles)

    async def admin(self, database: str = "postgres") -> asyncpg.Connection:
        """A superuser connection. A stack from before the generated passwords still has the
        old fixed one: its superuser is given the generated password here."""
        password = self.passwords()[SUPERUSER]
        port = self.settings.pg_port

        def dsn(pw: str) -> str:
            return f"postgresql://{SUPERUSER}:{pw}@127.0.0.1:{port}/{database}"

        try:
            return await asyncpg.connect(dsn(password), timeout=10)
        except asyncpg.InvalidPasswordError:
            conn = await asyncpg.connect(dsn(LEGACY_PASSWORD), timeout=10)
            await set_password(conn, SUPERUSER, password)
            return conn

    async def answers(self) -> bool:
        try:
            if self.external:
                conn = await asyncpg.connect(asyncpg_dsn(self.settings.db_url), timeout=3)
            else:
                conn = await self.admin()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            return False
        try:
            return await cluster_admin.answers(conn)
        finally:
            await conn.close()

    def _chown(self, path: Path, user: str | None) -> None:
        if user:
            shutil.chown(path, user, user)

    def _initdb(self, bindir: Path, user: str | None) -> None:
        self._place_data_dir(user)
        self._chown(self.dir, user)
        pwfile = self.data_dir.parent / "initdb.pw"
        pwfile.write_text(self.passwords()[SUPERUSER] + "\n")
        self._chown(pwfile, user)
        try:
            run_checked(
                [
                    str(bindir / "initdb"),
                    "-D", str(self.data_dir),
                    "-U", SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E", "UTF8",
                    "--locale=C.UTF-8",
                ],
                what="initdb",
                user=user,
                group=user,
                extra_groups=[] if user else None,
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    async def _start(self) -> None:
        bindir = server_bin_dir()
        user = server_user()
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)  # a half-made cluster from an interrupted initdb
            (self.dir / "data").unlink(missing_ok=True)  # and its link, if it was placed outside
            await asyncio.to_thread(self._initdb, bindir, user)
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.settings.pg_port),
        ]
        for key, value in SERVER_SETTINGS.items():
            argv += ["-c", f"{key}={value}"]
        if (bindir.parent / "lib" / f"{STATEMENT_STATS}.so").exists():
            argv += ["-c", f"shared_preload_libraries={STATEMENT_STATS}"]
        self.log_file.touch()
        self._chown(self.log_file, user)
        proc = spawn(argv, log_file=self.log_file, pid_file=self.pid_file, user=user)
        await wait_until(
            self.answers,
            within=self.settings.start_timeout_s,
            what="PostgreSQL",
            proc=proc,
            log_file=self.log_file,
        )
        # The database itself is created by after_start(), which `up` runs next.

    async def _roles_and_database(self) -> None:
        """The owner (migrations; it owns the database and every table) and one role per kind
        of process (telebill/db/roles.py), each with its generated password; the database
        created, or handed to the owner where an older stack made it as the superuser."""
        passwords = self.passwords()
        owner = DbRole.OWNER.login
        admin = await self.admin()
        try:
            for role in DbRole:
                await cluster_admin.ensure_login_role(
                    admin, role.login, createdb=role is DbRole.OWNER
                )
                await set_password(admin, role.login, passwords[role.login])
            # The tests drop their databases WITH (FORCE), ending the processes' sessions.
            await cluster_admin.grant_signal_backend(admin, owner)
            found = await cluster_admin.database_owner(admin, DB_NAME)
            if found is None:
                await cluster_admin.create_database(admin, DB_NAME, owner)
            elif found != owner:
                await cluster_admin.set_database_owner(admin, DB_NAME, owner)
        finally:
            await admin.close()
        await self._hand_tables_to_owner()

    async def _hand_tables_to_owner(self) -> None:
        """Tables made by the superuser (a stack from before the roles) become the owner's."""
        owner = DbRole.OWNER.login
        conn = await self.admin(DB_NAME)
        try:
            await cluster_admin.hand_relations_to(conn, owner)
        finally:
            await conn.close()

    async def after_start(self) -> None:
        if self.external:
            return  # a deployment's database: its roles and grants are its DBA's (docs/security.md)
        # Also repairs a stack whose first `up` was interrupted.
        await self._roles_and_database()
        # The main database at the latest schema, with each role's grants (db/roles.py).
        # lazy: Alembic and SQLAlchemy, ~0.4 s of a command's start, for the migration only
        from telebill.db.migrate import upgrade

        await asyncio.to_thread(upgrade, self.settings.db_url)

    def down(self, purge: bool = False) -> str:
        outside = self.data_dir if (self.dir / "data").is_symlink() else None
        said = super().down(purge)
        if purge and outside is not None:
            shutil.rmtree(outside.parent, ignore_errors=True)
        return said

    def _stop(self, pid: int) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
        stop_pid(pid, self.marker, signal.SIGINT)
