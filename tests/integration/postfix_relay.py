"""A private instance of Debian's Postfix as a local relay: its own configuration, queue, log and
Maildirs in one folder, smtpd on a loopback port of its own, never the system instance (the
set-up installs Postfix unconfigured). Each address it is given has a Maildir that virtual(8)
delivers into, and every address of a catch-all domain goes to one Maildir (`all`); any other
recipient is refused at RCPT with 550 5.1.1, as a real relay refuses an unknown user. Used by
the SMTP test (tests/integration/test_postfix_delivery.py) and the benchmark (bench/smtp.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


def unavailable() -> str | None:
    """Why no instance can run here, or None."""
    if not os.access(POSTFIX, os.X_OK):
        return "Postfix is not installed (`make system-deps` installs it: apt-get install postfix)"
    if os.geteuid() != 0:
        return "Postfix's master daemon runs only as root"
    return None


@dataclass(frozen=True)
class PostfixRelay:
    root: Path
    port: int
    boxes: dict[str, Path]  # address (or @domain, a catch-all) → its Maildir

    def delivered(self) -> list[Path]:
        """Every message file delivered so far, in every Maildir."""
        return sorted(self.root.glob("mail/*/new/*")) + sorted(self.root.glob("mail/*/cur/*"))

    def queued(self) -> int:
        """Messages the relay holds and has not delivered yet."""
        queue = self.root / "queue"
        return sum(1 for q in QUEUES for f in (queue / q).rglob("*") if f.is_file())

    def deferred(self) -> int:
        return sum(1 for f in (self.root / "queue" / "deferred").rglob("*") if f.is_file())

    def log_tail(self, lines: int = 30) -> str:
        """The end of its log (and of what `postfix start-fg` said), for a failure's message."""
        said = []
        for name in ("start.log", "maillog"):
            with contextlib.suppress(OSError):
                said += (self.root / name).read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(said)


def _main_cf(root: Path, boxes: dict[str, Path]) -> str:
    owner = pwd.getpwnam("postfix")
    return f"""\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.telebill.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
biff = no
virtual_mailbox_domains = {" ".join(sorted({a.rpartition("@")[2] for a in boxes}))}
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = texthash:{root}/etc/mailboxes
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
"""


# Debian's master.cf with what a relay into Maildirs does not use left out, and nothing chrooted
# (a chroot would need copies of /etc files inside the folder).
SERVICES = """\
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _listening(port: int, master: asyncio.subprocess.Process, relay: PostfixRelay) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        if master.returncode is not None or asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"Postfix did not start listening:\n{relay.log_tail()}")
        await asyncio.sleep(0.05)


def _prepare(addresses: Iterable[str], catch_all: Iterable[str]) -> PostfixRelay:
    """The instance's folder: its configuration, and empty queue and Maildir folders."""
    # Not under pytest's tmp_path: its /tmp/pytest-of-root is 0700, and Postfix's daemons, once
    # they are the `postfix` user, must reach their queue and the Maildirs.
    root = Path(tempfile.mkdtemp(prefix="telebill-postfix-"))
    root.chmod(0o755)
    boxes = {a: root / "mail" / f"m{n}" for n, a in enumerate(sorted(set(addresses)))}
    # a lookup finds user@domain first, then @domain (virtual(5))
    boxes |= {f"@{domain}": root / "mail" / "all" for domain in catch_all}
    relay = PostfixRelay(root, _free_port(), boxes)
    for folder in ("etc", "queue", "mail"):
        (root / folder).mkdir()
    shutil.chown(root / "mail", "postfix", "postfix")
    (root / "etc" / "main.cf").write_text(_main_cf(root, boxes))
    smtpd = f"127.0.0.1:{relay.port} inet n - n - - smtpd\n"
    (root / "etc" / "master.cf").write_text(smtpd + SERVICES)
    (root / "etc" / "mailboxes").write_text("".join(f"{a} {p.name}/\n" for a, p in boxes.items()))
    return relay


@contextlib.asynccontextmanager
async def postfix_running(
    addresses: Iterable[str] = (), catch_all: Iterable[str] = ()
) -> AsyncIterator[PostfixRelay]:
    """A private Postfix accepting mail for `addresses` (a Maildir each) and for every address
    of the `catch_all` domains (one Maildir for all), until the block ends (then stopped and its
    folder removed)."""
    relay = _prepare(addresses, catch_all)
    config = str(relay.root / "etc")
    # start-fg: the master stays this process's child, reaped here when it stops. In a session
    # of its own: on its way out it signals its whole process group, which would be ours.
    with (relay.root / "start.log").open("wb") as out:  # the child keeps its own descriptor
        master = await asyncio.create_subprocess_exec(
            POSTFIX, "-c", config, "start-fg", stdout=out, stderr=out, start_new_session=True
        )
    try:
        await _listening(relay.port, master, relay)
        yield relay
    finally:
        stop = await asyncio.create_subprocess_exec(
            POSTFIX, "-c", config, "stop", stdout=DEVNULL, stderr=DEVNULL
        )
        await stop.wait()
        try:
            await asyncio.wait_for(master.wait(), 30)
        except TimeoutError:
            master.kill()
            await master.wait()
        shutil.rmtree(relay.root, ignore_errors=True)
