"""The stack's generated passwords: one set, whoever asks first."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from telebill import credentials

ROLES = ["telebill", "telebill_owner", "telebill_worker"]


def test_a_caller_arriving_between_anothers_read_and_write_keeps_one_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stack up` starts PostgreSQL and the Temporal server at once and both ask: the second
    comes in after the first has found no file and before it has written one. Unguarded, each
    generated its own, initdb took one and the file kept the other."""
    read = credentials.read_credentials
    second: dict[str, str] = {}
    other: list[threading.Thread] = []

    def read_then_let_another_in(stack_dir: Path) -> dict[str, str]:
        found = read(stack_dir)
        if not other:
            thread = threading.Thread(
                target=lambda: second.update(credentials.ensure_credentials(stack_dir, ROLES))
            )
            other.append(thread)
            thread.start()
            thread.join(timeout=30)
        return found

    monkeypatch.setattr(credentials, "read_credentials", read_then_let_another_in)
    first = credentials.ensure_credentials(tmp_path, ROLES)
    other[0].join(timeout=30)
    assert not other[0].is_alive()
    assert first == second == read(tmp_path)
    assert sorted(first) == sorted(ROLES)


def test_roles_added_later_keep_the_passwords_already_given(tmp_path: Path) -> None:
    before = credentials.ensure_credentials(tmp_path, ROLES[:1])
    after = credentials.ensure_credentials(tmp_path, ROLES)
    assert after[ROLES[0]] == before[ROLES[0]]
    assert credentials.read_credentials(tmp_path) == after
    assert credentials.credentials_file(tmp_path).stat().st_mode & 0o777 == 0o600
