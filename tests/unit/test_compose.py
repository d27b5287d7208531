"""docker-compose.yml, the whole installation on one Docker host, checked without Docker: against
the Compose specification's schema, and against the code it runs (every task queue has its
worker, every consumer kind its service, every command parses, every variable is a setting),
with PostgreSQL, Kafka and Temporal kept off the public side."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import typer
import yaml

from starters.cli import app
from telebill.config import PROJECT_ROOT, Settings
from telebill.domain.db_roles import DbRole
from telebill.queues import WorkQueue
from telebill.stack import postgres
from tests.deploy_files import setting_names

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DEV_PORTS = PROJECT_ROOT / "deploy" / "compose" / "dev-ports.yml"
PROMETHEUS = PROJECT_ROOT / "deploy" / "compose" / "prometheus.yml"
ROLES_SCRIPT = PROJECT_ROOT / "deploy" / "compose" / "postgres-roles.sh"
NGINX = PROJECT_ROOT / "deploy" / "nginx" / "telebill.conf"
BACKING = ("postgres", "kafka-1", "kafka-2", "kafka-3", "temporal")


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE)


def telebill_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run Telebill's own image (the one `setup` excepted)."""
    return {
        name: s
        for name, s in compose["services"].items()
        if s.get("image") == "telebill:local" and name != "setup"
    }


@pytest.mark.parametrize("path", [COMPOSE, DEV_PORTS], ids=lambda p: p.name)
def test_the_files_follow_the_compose_specification(path: Path) -> None:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema = json.loads(text.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load(path))]
    assert errors == []


def test_every_task_queue_has_its_worker_and_every_consumer_kind_its_service(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for queue in WorkQueue:
        assert services[f"worker-{queue.value}"]["command"] == ["worker", "--queues", queue.value]
    consume = typer.main.get_command(app).commands["consume"]  # type: ignore[attr-defined]
    for kind in consume.commands:
        command = services[f"consumer-{kind}"]["command"]
        assert command[:2] == ["consume", kind]
        assert "--scale" in command  # each service scales its own processes on its lag


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The CLI's command named by the leading words, and the arguments left for it."""
    command: Any = typer.main.get_command(app)
    words = list(words)
    while hasattr(command, "commands") and words and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    return command, words


def test_every_command_is_one_the_cli_takes(compose: dict[str, Any]) -> None:
    setup = compose["services"]["setup"]["command"][0]
    commands = {name: s["command"] for name, s in telebill_services(compose).items()}
    for line in setup.split("&&"):
        assert line.split()[0] == "telebill"
        commands[f"setup: {line.strip()}"] = line.split()[1:]
    for name, words in commands.items():
        command, args = resolve(words)
        assert not hasattr(command, "commands"), f"{name}: {words} names no command"
        command.make_context(name, args)  # a wrong option or argument raises


def test_every_variable_given_to_telebill_is_a_setting(compose: dict[str, Any]) -> None:
    known = setting_names()
    for name, service in {
        **telebill_services(compose),
        "setup": compose["services"]["setup"],
    }.items():
        unknown = set(service["environment"]) - known
        assert not unknown, f"{name}: {sorted(unknown)} are no setting of telebill (ignored)"


def test_the_database_the_broker_and_temporal_are_off_the_public_side(
    compose: dict[str, Any],
) -> None:
    networks = compose["networks"]
    services = compose["services"]
    for name in BACKING:
        assert services[name].get("ports") is None, f"{name} publishes a port"
        joined = services[name]["networks"]
        assert all(networks[n].get("internal") for n in joined), f"{name} on {joined}"
    for name, service in services.items():
        for port in service.get("ports", []):
            if not str(port).startswith("127.0.0.1:"):
                assert name == "nginx", f"{name} publishes {port} beyond the host"
    # the processes that reach providers outside have a way out; the rest do not
    for name, service in telebill_services(compose).items():
        outside = [n for n in service["networks"] if not networks[n].get("internal")]
        if name.startswith("consumer-"):
            assert outside, f"{name} cannot reach its provider"
        elif name.startswith("worker-"):
            assert not outside, f"{name} is reachable from outside the data network"


def test_every_process_is_probed_on_its_own_port_and_scraped(compose: dict[str, Any]) -> None:
    prometheus = load(PROMETHEUS)
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    }
    for name, service in telebill_services(compose).items():
        env = service["environment"]
        port = env.get("TELEBILL_API_PORT") or env.get("TELEBILL_WEB_PORT")
        port = port or env["TELEBILL_METRICS_PORT"]
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/" in probe, f"{name}: {probe}"
        if name.startswith(("worker-", "consumer-")):
            assert env["TELEBILL_METRICS_HOST"] == "0.0.0.0"
            assert f"{name}:{env['TELEBILL_METRICS_PORT']}" in targets, f"{name} is not scraped"
    assert prometheus["rule_files"] == ["alerts.yml"]
    mounted = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounted


def test_nginx_is_pointed_at_the_two_services(compose: dict[str, Any]) -> None:
    """The compose command rewrites the single-host upstreams; a changed conf would leave it
    proxying to the container's own loopback."""
    command = compose["services"]["nginx"]["command"]
    conf = NGINX.read_text()
    for old, new in re.findall(r"s/(server [^/]+;)/(server [^/]+;)/", command):
        assert old in conf
        conf = conf.replace(old, new)
    upstreams = re.findall(r"upstream \w+ \{\s*server ([^;]+);", conf)
    assert sorted(upstreams) == ["api:58080", "web:58081"]


def test_each_process_connects_as_its_own_role_and_only_setup_as_the_owner(
    compose: dict[str, Any],
) -> None:
    """The owner may run DDL: its URL is `setup`'s alone (it migrates); PostgreSQL gets every
    role the processes connect as."""
    script = ROLES_SCRIPT.read_text()
    for role in DbRole:
        assert f"CREATE ROLE {role.login} LOGIN" in script
    assert "CREATE DATABASE telebill OWNER telebill_owner" in script

    def users(service: dict[str, Any]) -> set[str]:
        urls = [v for k, v in service["environment"].items() if "DATABASE_URL" in k]
        return {re.match(r"postgresql://(\w+):", u).group(1) for u in urls}  # type: ignore[union-attr]

    assert users(compose["services"]["setup"]) == {DbRole.OWNER.login}
    role_of = {"worker": DbRole.WORKER, "consumer": DbRole.CONSUMER, "api": DbRole.API}
    for name, service in telebill_services(compose).items():
        kind = "api" if name in ("api", "web") else name.split("-")[0]
        assert users(service) == {role_of[kind].login}, name


def test_the_brokers_keep_their_data_and_form_one_cluster(compose: dict[str, Any]) -> None:
    """A KRaft cluster id is 16 bytes in base64url (kafka-storage refuses another, and every
    broker would restart for ever); the log directory is the mounted volume."""
    brokers = {n: s for n, s in compose["services"].items() if n.startswith("kafka-")}
    assert len(brokers) == 3
    ids = {b["environment"]["CLUSTER_ID"] for b in brokers.values()}
    (cluster_id,) = ids
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    for name, broker in brokers.items():
        logs = broker["environment"]["KAFKA_LOG_DIRS"]
        assert any(v.split(":")[1] == logs for v in broker["volumes"]), name
        assert (
            f"{broker['environment']['KAFKA_NODE_ID']}@{name}:9093"
            in (broker["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        )


def host_ports(service: dict[str, Any]) -> dict[int, int]:
    """{host port: container port}; every port is bound to loopback only."""
    out = {}
    for spec in service["ports"]:
        ip, host, container = spec.split(":")
        assert ip == "127.0.0.1", spec
        out[int(host)] = int(container)
    return out


def test_the_dev_override_publishes_the_data_services_where_the_code_looks(
    compose: dict[str, Any],
) -> None:
    """A checkout's `telebill` with its default ports finds them (the stack's own ports)."""
    default = {name: f.default for name, f in Settings.model_fields.items()}
    dev = load(DEV_PORTS)["services"]
    assert host_ports(dev["postgres"]) == {default["pg_port"]: 5432}
    assert default["kafka_port"] in host_ports(dev["kafka-1"])
    advertised = dev["kafka-1"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert f"127.0.0.1:{default['kafka_port']}" in advertised
    assert host_ports(dev["temporal"]) == {default["temporal_port"]: 7233}
    assert default["temporal_ui_port"] in host_ports(compose["services"]["temporal-ui"])


def test_credentials_versions_and_search_attributes_are_the_stacks(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    env = services["postgres"]["environment"]
    assert env["POSTGRES_USER"] == postgres.SUPERUSER
    # every password comes from the environment; none is written in the file
    secrets = [v for k, v in env.items() if "PASSWORD" in k]
    assert secrets and all(v.startswith("${TELEBILL_PG_") for v in secrets)
    assert f"CREATE DATABASE {postgres.DB_NAME} OWNER" in ROLES_SCRIPT.read_text()
    temporal = services["temporal"]["environment"]
    assert (temporal["DB"], temporal["POSTGRES_SEEDS"]) == ("postgres12", "postgres")
    assert temporal["POSTGRES_USER"] == postgres.SUPERUSER
    assert temporal["POSTGRES_PWD"].startswith("${TELEBILL_PG_PASSWORD:?")
    version = Settings.model_fields["kafka_version"].default
    for n in (1, 2, 3):
        kafka = services[f"kafka-{n}"]
        assert kafka["image"].endswith(f":{version}")
        assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    # the search attributes and topics: `telebill stack up`, in `setup`
    assert "telebill stack up" in services["setup"]["command"][0]


def test_prometheus_and_grafana_run_the_deploy_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    for service in (prometheus, grafana, services["nginx"], services["postgres"]):
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), volume
    source = load(PROJECT_ROOT / "deploy/compose/grafana-datasource.yml")["datasources"][0]
    assert source["url"] == "http://prometheus:9090"  # Prometheus's own port, on `tools`
    assert "tools" in prometheus["networks"] and "tools" in grafana["networks"]
    provider = load(PROJECT_ROOT / "deploy/grafana/provisioning/dashboards/telebill.yml")
    dashboard_mount = next(v for v in grafana["volumes"] if v.endswith(".json:ro"))
    assert dashboard_mount.split(":")[1].startswith(provider["providers"][0]["options"]["path"])


def test_telebills_processes_get_longer_than_their_own_stop_deadline(
    compose: dict[str, Any],
) -> None:
    """Docker kills a container 10 s after SIGTERM unless told otherwise: a Telebill process
    must have its whole TELEBILL_SHUTDOWN_TIMEOUT_S to hand back what it has in flight."""
    ours = {n: s for n, s in compose["services"].items() if s.get("build") == "."}
    assert len(ours) > 10, "the services that run Telebill"
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


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_compose_scrape_config_with_the_rules_as_mounted(
    tmp_path: Path,
) -> None:
    """Laid out as the container sees them: the config and, beside it, deploy/prometheus's
    rules; every job an alert names is scraped."""
    shutil.copy(PROMETHEUS, tmp_path / "prometheus.yml")
    shutil.copy(PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    done = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = {c["job_name"] for c in load(PROMETHEUS)["scrape_configs"]}
    named = set(re.findall(r'job="([^"]+)"', (tmp_path / "alerts.yml").read_text()))
    assert named and named <= jobs
