"""The local stack's secrets: the PostgreSQL passwords, generated at `telebill stack up`, and the
key of the members' bill links, generated on first use; kept in the stack folder (mode 0600),
never in the repository. A deployment gives its URLs and its link key in the environment.

Below the config (which reads them) and telebill.db (whose stack set-up writes them): imports
neither."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


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
    """The passwords of `roles`, generating those missing (the file is written whole, 0600)."""
    known = read_credentials(stack_dir)
    missing = [r for r in roles if r not in known]
    if missing:
        known |= {r: secrets.token_urlsafe(24) for r in missing}
        path = credentials_file(stack_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(known, out, indent=2)
        tmp.replace(path)
    return known


def link_key_file(stack_dir: Path) -> Path:
    return stack_dir / "secrets" / "bill-link.key"


def ensure_link_key(stack_dir: Path) -> str:
    """The key that signs the members' bill links (telebill/domain/bill_link.py), generated on
    first use. Every process that builds or checks a link reads the same one, so two that
    start at once must not each keep a key of their own: the first file linked into place
    wins, and the loser reads it."""
    path = link_key_file(stack_dir)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(tmp, path)  # unlike a rename, refuses to replace a key already there
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
