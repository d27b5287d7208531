"""The command line as a user meets it: help everywhere, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperGroup

from starters.cli import app
from tests.helpers import free_port, run_cli


def command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        paths.append(path)
        if isinstance(cmd, TyperGroup):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "telebill")
def test_every_command_has_help(path: list[str]) -> None:
    result = run_cli(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert len(result.stdout.strip().splitlines()) > 3


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    err = result.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def stack_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A stack of its own (folder and ports), so the test never touches the shared one."""
    return {
        "TELEBILL_STACK_DIR": str(tmp_path / "stack"),
        "TELEBILL_PG_PORT": str(free_port()),
        "TELEBILL_KAFKA_PORT": str(free_port()),
        "TELEBILL_KAFKA_CONTROLLER_PORT": str(free_port()),
        "TELEBILL_TEMPORAL_PORT": str(free_port()),
        "TELEBILL_TEMPORAL_UI_PORT": str(free_port()),
        **extra,
    }


def test_port_taken_by_another_program_is_named(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = stack_env(tmp_path, TELEBILL_PG_PORT=str(port))
        result = run_cli("stack", "up", "--only", "postgres", env=env)
    err = one_line_error(result)
    assert f"port {port} in use by another program" in err
    assert not (tmp_path / "stack" / "postgres" / "pid").exists()


def test_missing_java_is_named(tmp_path: Path) -> None:
    env = stack_env(tmp_path, PATH=str(tmp_path / "empty-bin"), JAVA_HOME="")
    result = run_cli("stack", "up", "--only", "kafka", env=env)
    assert "Java 17+ not found" in one_line_error(result)


def test_unknown_service_is_refused(tmp_path: Path) -> None:
    result = run_cli("stack", "status", "--only", "redis", env=stack_env(tmp_path))
    assert "unknown service 'redis'" in one_line_error(result)


def test_invalid_setting_is_one_line(tmp_path: Path) -> None:
    result = run_cli("stack", "status", env=stack_env(tmp_path, TELEBILL_PG_PORT="not-a-port"))
    assert "invalid setting pg_port" in one_line_error(result)


def test_status_of_a_stack_never_started(tmp_path: Path) -> None:
    result = run_cli("stack", "status", "--json", env=stack_env(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"postgres", "kafka", "temporal"}
    assert not any(s["running"] for s in report.values())
    assert report["postgres"]["data_dir"] == str(tmp_path / "stack" / "postgres")
