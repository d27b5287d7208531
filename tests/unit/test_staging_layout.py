"""The staging layout (`telebill staging`) checked without starting it: its roles are
docker-compose.yml's, its ports are its own, its processes get its settings and no other
installation's, and what it writes for Nginx and Prometheus is what those programs accept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bench import server_knobs
from starters import staging_cmd
from telebill.config import Settings, get_settings
from telebill.domain.db_roles import DbRole
from telebill.settings.stack import StackSettings
from telebill.stack.process import StackError, pid_alive, signal_owned
from telebill.staging import layout, monitoring, proxy
from telebill.staging.installation import Staging, proxy_site
from tests.unit.test_compose import COMPOSE, load, telebill_services

DEFAULTS = StackSettings()


def compose_commands() -> dict[str, tuple[str, ...]]:
    """Each Telebill service of docker-compose.yml (not those of an optional profile) and the
    `telebill` arguments it runs."""
    services = telebill_services(load(COMPOSE))
    return {n: tuple(s["command"]) for n, s in services.items() if not s.get("profiles")}


def test_the_roles_are_the_compose_services_with_their_commands() -> None:
    staged = {r.name: r.argv for r in layout.roles()}
    shipped = compose_commands()
    assert set(staged) == set(shipped)
    for name, argv in staged.items():
        kind = argv[:2] if argv[0] == "consume" else argv
        assert shipped[name][: len(kind)] == kind, name
        assert ("--scale" in argv) == ("--scale" in shipped[name]), name


def every_port(root: Path) -> list[int]:
    temporal = layout.TEMPORAL_PORT
    member = layout.TEMPORAL_MEMBERSHIP_PORT
    ports = [layout.PG_PORT, layout.HTTPS_PORT, layout.HTTP_PORT, layout.PROMETHEUS_PORT]
    most = max(int(s["TELEBILL_KAFKA_BROKERS"]) for s in layout.INFRASTRUCTURE_SETTINGS.values())
    ports += [layout.KAFKA_PORT + 2 * n + c for n in range(most) for c in (0, 1)]
    ports += [temporal + d for d in (0, 1, 2, 6, 10)] + [member + d for d in (0, 1, 2, 6)]
    ports.append(temporal + 1000)  # the dev server's Web UI (infrastructure dev)
    for r in layout.roles():
        ports += r.ports
        if r.name.startswith("worker-"):
            assert r.port + 1 in r.ports  # the Temporal SDK's metrics
    return ports


def test_no_two_parts_share_a_port_nor_one_of_the_main_stack(tmp_path: Path) -> None:
    ports = every_port(tmp_path)
    assert len(ports) == len(set(ports))
    main = {
        DEFAULTS.pg_port,
        DEFAULTS.kafka_port,
        DEFAULTS.kafka_controller_port,
        DEFAULTS.temporal_port,
        DEFAULTS.temporal_ui_port,
        58080,
        58081,
    }
    assert not main & set(ports)
    # below the ephemeral range: no client connection holds one when its process restarts
    assert max(ports) < 32768
    assert server_knobs.PORT not in ports  # the benchmark's own dev server


def test_a_process_gets_the_staging_settings_and_none_of_another_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = {
        "TELEBILL_DATABASE_URL": "postgresql://someone@db.example/prod",
        "DATABASE_URL": "postgresql://someone@db.example/prod",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka.example:9092",
        "TEMPORAL_ADDRESS": "temporal.example:7233",
        "TELEBILL_TOPIC_PREFIX": "prod.",
    }
    for name, value in foreign.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEBILL_TEMPORAL_HISTORY_SHARDS", "16")  # a trial's own tuning
    staging = Staging(tmp_path, tmp_path.with_name(".stack"))
    (tmp_path / "clock-offset").write_text("3600.0")
    env = staging.env()
    assert not set(foreign) & set(env)
    assert env["TELEBILL_TEMPORAL_HISTORY_SHARDS"] == "16"
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert s.kafka_servers == ",".join(f"127.0.0.1:{layout.KAFKA_PORT + 2 * n}" for n in range(3))
    assert s.temporal_server == "production" and s.temporal_server_mtls
    assert s.stack_dir == tmp_path and s.clock_offset_s == 3600.0
    assert f"127.0.0.1:{layout.PG_PORT}/telebill" in s.db_url_for(DbRole.CONSUMER)
    # the links are published at their own host name, so every process shares one key
    assert s.web_base_url == f"https://{layout.WEB_HOST}"
    assert s.bill_link_key() == staging.settings()["TELEBILL_WEB_LINK_KEY"].encode()


def test_the_dev_infrastructure_gives_the_same_roles_the_dev_server_and_one_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = Staging(tmp_path / ".stack-staging", tmp_path / ".stack")
    assert staging.infrastructure() is layout.Infrastructure.PRODUCTION  # before any `up`
    assert staging.keep_infrastructure(layout.Infrastructure.DEV) is layout.Infrastructure.DEV
    # kept for every later command, whichever shell it comes from
    assert Staging(staging.root, tmp_path / ".stack").keep_infrastructure(None) == "dev"
    with pytest.raises(StackError, match="runs on the dev servers"):
        staging.keep_infrastructure(layout.Infrastructure.PRODUCTION)
    monkeypatch.setenv("TELEBILL_TEMPORAL_SERVER", "production")  # another installation's
    env = staging.env()
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    assert s.temporal_server == "dev" and not s.temporal_server_mtls
    assert s.kafka_servers == f"127.0.0.1:{layout.KAFKA_PORT}"
    assert s.kafka_replication_factor == 1
    assert s.stack_dir == staging.root
    # and what `eval "$(telebill staging env)"` gives another shell is the same
    monkeypatch.setenv("TELEBILL_STACK_DIR", str(tmp_path / ".stack"))
    get_settings.cache_clear()
    printed = CliRunner().invoke(staging_cmd.app, ["env"])
    get_settings.cache_clear()
    assert printed.exit_code == 0, printed.output
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in printed.output.splitlines()
        if line.startswith("export ")
    )
    for name in layout.INFRASTRUCTURE_SETTINGS[layout.Infrastructure.DEV]:
        assert exported[name] == env[name], name


def test_an_installation_made_before_the_choice_stays_on_the_production_servers(
    tmp_path: Path,
) -> None:
    staging = Staging(tmp_path / ".stack-staging", tmp_path / ".stack")
    (staging.root / "postgres").mkdir(parents=True)  # its data, and no choice recorded
    with pytest.raises(StackError, match="runs on the production servers"):
        staging.keep_infrastructure(layout.Infrastructure.DEV)
    assert staging.keep_infrastructure(None) is layout.Infrastructure.PRODUCTION


def scraped(config: dict[str, Any]) -> dict[str, set[int]]:
    return {
        job["job_name"]: {
            int(t.rsplit(":", 1)[1]) for c in job["static_configs"] for t in c["targets"]
        }
        for job in config["scrape_configs"]
    }


def test_prometheus_scrapes_every_process_and_loads_the_rules(tmp_path: Path) -> None:
    path = monitoring.write_config(tmp_path, layout.roles())
    jobs = scraped(yaml.safe_load(path.read_text()))
    for r in layout.roles():
        if r.name.startswith("worker-"):
            assert r.port in jobs["telebill-worker"] and r.port + 1 in jobs["temporal-sdk"]
        elif r.name.startswith("consumer-"):
            assert set(range(r.port, r.port + r.slots + 1)) <= jobs["telebill-consumers"]
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing: `make test` installs it (scripts/system-deps.sh)")
    checked = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 1 rule files found" in checked.stdout + checked.stderr


def test_nginx_accepts_the_shipped_site_moved_to_the_staging_ports(tmp_path: Path) -> None:
    proxy.certificate(tmp_path)
    main = proxy_site(tmp_path)
    site = "\n".join(line.split("#")[0] for line in main.read_text().splitlines())
    assert f"server 127.0.0.1:{layout.API_PORT};" in site
    assert f"server 127.0.0.1:{layout.WEB_PORT};" in site
    assert "/etc/nginx" not in site and "/var/log" not in site
    proxy.check_conf(main, tmp_path)  # `nginx -t`: raises with its reason if it refuses


def test_one_change_at_a_time(tmp_path: Path) -> None:
    """A second `up` or `down` while one runs is refused with the first one's pid, and the
    installation can be changed again once it ends."""
    staging = Staging(tmp_path / ".stack-staging", tmp_path / ".stack")
    refused = pytest.raises(StackError, match=f"pid {os.getpid()}")
    with staging.changing(), refused, staging.changing():
        pass
    # after `eval "$(telebill staging env)"` the stack folder given is the installation's own
    as_own = Staging(staging.root, staging.root)
    with staging.changing(), pytest.raises(StackError), as_own.changing():
        pass
    with staging.changing():  # a `down` deleting the folder still holds the installation
        staging.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging.root)
        with pytest.raises(StackError), staging.changing():
            pass
    with staging.changing():
        pass


def test_proxy_key_kept_private(tmp_path: Path) -> None:
    proxy.certificate(tmp_path, days=1)
    assert (tmp_path / "telebill.key").stat().st_mode & 0o777 == 0o600


class Sleeper:
    """An owned process as the stack's services are: a pid and a marker in its command line."""

    def __init__(self, argv: list[str] | None) -> None:
        self.process = subprocess.Popen(argv) if argv else None
        self.marker = "3600"

    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def test_a_fault_kills_the_owned_process_and_names_a_missing_one() -> None:
    sleeper = Sleeper(["sleep", "3600"])
    assert sleeper.process is not None
    try:
        # until the child has exec'd, its command line is still pytest's (not ours to kill)
        deadline = time.monotonic() + 30
        while not pid_alive(sleeper.process.pid, sleeper.marker):
            assert time.monotonic() < deadline, "sleep never started"
            time.sleep(0.01)
        assert signal_owned(sleeper, "the sleeper") == sleeper.process.pid
        assert sleeper.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        sleeper.process.kill()
    with pytest.raises(StackError, match="the broker is not running"):
        signal_owned(Sleeper(None), "the broker")
