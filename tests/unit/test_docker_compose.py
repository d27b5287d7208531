"""docker-compose.yml must give the same stack the code expects by default."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from telebill.config import PROJECT_ROOT, Settings
from telebill.stack import postgres
from telebill.stack.temporal import SEARCH_ATTRIBUTES

PASSWORD_FROM_ENV = "${TELEBILL_PG_PASSWORD:?"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def host_ports(service: dict[str, Any]) -> dict[int, int]:
    """{host port: container port}; every port is bound to loopback only."""
    out = {}
    for spec in service["ports"]:
        ip, host, container = spec.split(":")
        assert ip == "127.0.0.1", spec
        out[int(host)] = int(container)
    return out


def test_names_the_three_services_and_the_ui(compose: dict[str, Any]) -> None:
    default = {n for n, s in compose["services"].items() if "profiles" not in s}
    assert default == {"postgres", "kafka", "temporal", "temporal-ui"}


def test_the_production_temporal_uses_the_stacks_postgresql_and_port(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    production = services["temporal-production"]
    assert production["profiles"] == ["production"]
    env = production["environment"]
    assert (env["DB"], env["POSTGRES_SEEDS"]) == ("postgres12", "postgres")
    assert env["POSTGRES_USER"] == postgres.SUPERUSER
    assert env["POSTGRES_PWD"].startswith(PASSWORD_FROM_ENV)
    assert production["depends_on"]["postgres"]["condition"] == "service_healthy"
    # the port the code defaults to, so that it replaces the dev server unchanged
    assert set(host_ports(production)) == set(host_ports(services["temporal"]))


def test_uses_the_ports_the_code_defaults_to(compose: dict[str, Any]) -> None:
    default = {name: f.default for name, f in Settings.model_fields.items()}
    services = compose["services"]
    assert default["pg_port"] in host_ports(services["postgres"])
    kafka = default["kafka_port"]
    assert host_ports(services["kafka"]) == {kafka: kafka}
    assert f"127.0.0.1:{kafka}" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    temporal = default["temporal_port"]
    assert host_ports(services["temporal"]) == {temporal: temporal}
    assert default["temporal_ui_port"] in host_ports(services["temporal-ui"])


def test_same_credentials_kafka_version_and_search_attributes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["postgres"]["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == (postgres.SUPERUSER, postgres.DB_NAME)
    # the password comes from the environment; no password is written in the file
    assert env["POSTGRES_PASSWORD"].startswith(PASSWORD_FROM_ENV)
    assert services["kafka"]["image"].endswith(":" + Settings.model_fields["kafka_version"].default)
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    command = " ".join(services["temporal"]["command"])
    for name in SEARCH_ATTRIBUTES:
        assert f"--search-attribute={name}=" in command


def test_the_monitoring_profile_runs_the_deploy_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == grafana["profiles"] == ["monitoring"]
    for service in (prometheus, grafana):
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            assert (PROJECT_ROOT / source).exists(), volume
    listen = next(a for a in prometheus["command"] if a.startswith("--web.listen-address="))
    address = listen.split("=", 1)[1]
    source = yaml.safe_load(
        (PROJECT_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert source["url"] == f"http://{address}"
    provider = yaml.safe_load(
        (PROJECT_ROOT / "deploy/grafana/provisioning/dashboards/telebill.yml").read_text()
    )["providers"][0]
    dashboard_mount = next(v for v in grafana["volumes"] if v.endswith(".json:ro"))
    assert dashboard_mount.split(":")[1].startswith(provider["options"]["path"] + "/")


def test_the_admin_api_sits_on_loopback_behind_the_shipped_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    api, proxy = services["api"], services["nginx"]
    assert api["profiles"] == proxy["profiles"] == ["admin"]
    assert (PROJECT_ROOT / api["build"] / "Dockerfile").exists()
    assert api["command"] == ["api", "serve"]
    default = {name: f.default for name, f in Settings.model_fields.items()}
    assert api["environment"]["TELEBILL_API_HOST"] == "127.0.0.1"
    assert int(api["environment"]["TELEBILL_API_PORT"]) == default["api_port"]
    conf = (PROJECT_ROOT / "deploy" / "nginx" / "telebill.conf").read_text()
    assert f"server 127.0.0.1:{default['api_port']};" in conf
    for mount in proxy["volumes"]:
        assert (PROJECT_ROOT / mount.split(":")[0]).exists(), mount
    # the sed in its command rewrites listen lines the shipped file has
    assert "listen 443 " in conf and "listen 80;" in conf


def test_telebills_processes_get_longer_than_their_own_stop_deadline(
    compose: dict[str, Any],
) -> None:
    """Docker kills a container 10 s after SIGTERM unless told otherwise: a Telebill process
    must have its whole TELEBILL_SHUTDOWN_TIMEOUT_S to hand back what it has in flight."""
    ours = {n: s for n, s in compose["services"].items() if s.get("build") == "."}
    assert ours, "no service runs Telebill"
    for name, service in ours.items():
        grace = service.get("stop_grace_period", "10s")
        assert grace.endswith("s"), grace
        assert float(grace[:-1]) > Settings().shutdown_timeout_s, name


def test_the_image_gets_no_key_history_or_local_data() -> None:
    """`COPY . .` takes whatever .dockerignore lets through: a private key, the git history or
    the local stack's data (its passwords) must not be in an image pushed to a registry."""
    ignored = {
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (".git", "*.key", "*.pem", "deploy/nginx/certs", ".stack", ".env", ".venv"):
        assert needed in ignored, needed
