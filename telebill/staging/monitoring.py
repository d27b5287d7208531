"""Prometheus for the staging installation: every process of `layout.roles()` scraped as
deploy/compose/prometheus.yml scrapes the compose services (the same jobs and labels), the
alert rules of deploy/prometheus/alerts.yml loaded, and its alerts read back."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from telebill.stack.process import StackError
from telebill.staging.layout import PROMETHEUS_PORT, Role, deploy_file

# Short enough that an outage of a minute shows (the rules' own `for:` still decides firing).
SCRAPE_S = 5


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        raise StackError("prometheus is missing: `make deps` installs it (scripts/system-deps.sh)")
    return found


def scrape_configs(roles: list[Role]) -> list[dict[str, Any]]:
    workers, sdk, consumers = [], [], []
    for r in roles:
        kind = r.name.split("-", 1)[-1]
        if r.name.startswith("worker-"):
            workers.append({"targets": [f"127.0.0.1:{r.port}"], "labels": {"queue": kind}})
            sdk.append({"targets": [f"127.0.0.1:{r.port + 1}"], "labels": {"queue": kind}})
        elif r.name.startswith("consumer-"):
            ports = range(r.port, r.port + r.slots + 1)  # the supervisor, then process n on +n
            consumers.append(
                {"targets": [f"127.0.0.1:{p}" for p in ports], "labels": {"kind": kind}}
            )
    return [
        {"job_name": "telebill-worker", "static_configs": workers},
        {"job_name": "temporal-sdk", "static_configs": sdk},
        {"job_name": "telebill-consumers", "static_configs": consumers},
    ]


def write_config(folder: Path, roles: list[Role]) -> Path:
    """prometheus.yml and a copy of the shipped alert rules in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(deploy_file("prometheus", "alerts.yml"), folder / "alerts.yml")
    config = {
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": scrape_configs(roles),
    }
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prometheus_argv(config: Path, folder: Path) -> list[str]:
    return [
        prometheus_binary(),
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        "--storage.tsdb.retention.time=7d",
    ]


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # pending or firing
    since: datetime
    labels: dict[str, str]


async def alerts(client: httpx.AsyncClient) -> list[Alert]:
    """The alerts Prometheus holds now (pending or firing), from its HTTP API."""
    answer = await client.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/alerts", timeout=10)
    answer.raise_for_status()
    return [
        Alert(
            a["labels"].get("alertname", "?"),
            a["state"],
            datetime.fromisoformat(a["activeAt"].replace("Z", "+00:00")),
            a["labels"],
        )
        for a in answer.json()["data"]["alerts"]
    ]


async def ready(client: httpx.AsyncClient) -> bool:
    answer = await client.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready", timeout=5)
    return answer.status_code == 200
