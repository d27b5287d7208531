"""What gets installed is what was locked: every package pinned to one version with the hashes
of its files, and every install of the lock refuses a file whose hash is not there."""

from __future__ import annotations

import re

from telebill.config import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"


def requirements() -> dict[str, list[str]]:
    """name==version → its hashes (the lock's continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", LOCK.read_text())
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            spec, *options = line.split()
            found[spec] = [o.split(":", 1)[1] for o in options if o.startswith("--hash=sha256:")]
    return found


def test_every_package_is_pinned_with_the_hashes_of_its_files() -> None:
    locked = requirements()
    assert len(locked) > 50
    for spec, hashes in locked.items():
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[^=\s]+", spec), spec
        assert hashes and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), spec


def test_every_install_of_the_lock_checks_the_hashes() -> None:
    for name in ("Makefile", "Dockerfile"):
        installs = [
            line
            for line in (PROJECT_ROOT / name).read_text().splitlines()
            if "pip install" in line and "requirements.lock" in line
        ]
        assert installs, name
        assert all("--require-hashes" in line for line in installs), name
