"""The local stack's secrets: the PostgreSQL passwords, generated at `telebill stack up`, and the
key of the members' bill links, generated on first use; kept in the stack folder (mode 0600),
never in the repository. A deployment gives its URLs and its link key in the environment.

Below the config (which reads them) and telebill.db (whose stack set-up writes them): imports
neither (only telebill.errors, for the one-line failures)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from telebill.errors import TelebillError


def credentials_file(stack_dir: Path) -> Path:
    return stack_dir / "secrets" / "postgres.json"


def read_credentials(stack_dir: Path) -> dict[str, str]:
    """Role name → password; empty before the stack's first `up`."""
    try:
        data = json.loads(credentials_file(stack_dir).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def ensure_credentials(stack_dir: Path, roles: Iterable[str]) -> dict[str, str]:
    """The passwords of `roles`, generating those missing (the file is written whole, 0600).

    `stack up` starts PostgreSQL and the Temporal server at once, and both ask for the
    passwords: unguarded, each read an empty file and generated its own, initdb got one and the
    file kept the other (the staging `up` of 2026-12-05 failed so). The read, the generation and
    the write are one step under an exclusive lock on a file beside it, across processes."""
    roles = list(roles)
    known = read_credentials(stack_dir)
    if all(r in known for r in roles):
        return known
    path = credentials_file(stack_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    with _locked(path.with_suffix(".lock")):
        known = read_credentials(stack_dir)  # again: another may have written it meanwhile
        missing = [r for r in roles if r not in known]
        if missing:
            known |= {r: secrets.token_urlsafe(24) for r in missing}
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump(known, out, indent=2)
            tmp.replace(path)
    return known


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released with the descriptor, also if the process dies
        yield
    finally:
        os.close(fd)


def link_key_file(stack_dir: Path) -> Path:
    return stack_dir / "secrets" / "bill-link.key"


# Shorter keys are refused, from the file as from TELEBILL_WEB_LINK_KEY (telebill/settings/web.py):
# an empty or short key lets anyone who guesses it sign a link to any member's bill.
MIN_LINK_KEY_CHARS = 32
_SET_KEY = "set TELEBILL_WEB_LINK_KEY (32 characters or more, the same on every process)"


def ensure_link_key(stack_dir: Path) -> str:
    """The key that signs the members' bill links (telebill/domain/bill_link.py), generated on
    first use. Every process that builds or checks a link reads the same one, so two that
    start at once must not each keep a key of their own: the first file linked into place
    wins, and the loser reads it. A folder that cannot be written, or a file that cannot be
    read or holds too short a key, is a TelebillError naming the file and the setting."""
    path = link_key_file(stack_dir)
    try:
        try:
            key = path.read_text().strip()
        except FileNotFoundError:
            key = _generate_link_key(path)
    except OSError as exc:  # a read-only or foreign stack folder: one line, not a traceback
        raise TelebillError(
            f"cannot keep the bill links' key in {path} ({exc.strerror or exc}): {_SET_KEY}"
        ) from exc
    if len(key) < MIN_LINK_KEY_CHARS:
        raise TelebillError(
            f"the bill links' key in {path} is shorter than {MIN_LINK_KEY_CHARS} characters: "
            f"delete it (a new one ends the links sent) or {_SET_KEY}"
        )
    return key


def _generate_link_key(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    # A temporary file of this call's own (mkstemp: a new name, O_EXCL, mode 0600), written
    # whole before it is linked: a name made from the pid is shared by the threads of one
    # process and by containers that all run as pid 1, and one's O_TRUNC could empty the file
    # another had already linked into place as the key.
    fd, tmp = tempfile.mkstemp(prefix=".bill-link.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())  # not a linked name over an empty file after a crash
        # unlike a rename, refuses to replace a key already there: the loser reads the winner's
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
