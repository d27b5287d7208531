"""deploy/kubernetes held to the code, where no schema can see: the settings' names, the
consumer groups and topics, the task queues, the ports, the probes, the Secrets and who may
reach what (the schemas themselves: test_kubernetes_schemas.py)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
from typer.core import TyperGroup
from typer.exceptions import TyperException

from starters.cli import app as telebill_cli
from telebill.config import PROJECT_ROOT, Settings
from telebill.domain.db_roles import DbRole
from telebill.messaging.consumer import group_id
from telebill.messaging.topics import Topics
from telebill.queues import WorkQueue, parse_queues
from tests.deploy_files import secret_settings, setting_names
from tests.kubernetes_layout import (
    DNS_PORT,
    HERE,
    LINK_PROCESSES,
    POSTGRESQL_PORT,
    ROLE_OF,
    SettingsOf,
    command_of,
    component,
    config_map,
    consumer_deployment,
    consumer_kinds,
    each_container,
    egress_ports,
    environment,
    host_port,
    of_kind,
    one,
    placeholder,
    pod_labels,
    pod_spec,
    pods,
    policies_for,
    port_number,
    secret_refs,
    selects,
)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    """Where a pod's TELEBILL_STACK_DIR points: nothing there (the image has no local stack),
    and nothing may be written there (the root filesystem is read-only)."""
    return tmp_path / "stack"


@pytest.fixture
def settings_of(monkeypatch: pytest.MonkeyPatch, stack_dir: Path) -> SettingsOf:
    """Settings as a container's process reads them (nothing of this test process's own, nor
    of this machine's local stack)."""

    def read(c: dict[str, Any]) -> Settings:
        with monkeypatch.context() as m:
            for name in setting_names():
                m.delenv(name, raising=False)
            m.setenv("TELEBILL_STACK_DIR", str(stack_dir))
            for name, value in environment(c).items():
                m.setenv(name, value)
            return Settings()

    return read


def test_every_container_runs_a_command_telebill_has_with_options_it_takes() -> None:
    root = typer.main.get_command(telebill_cli)
    for doc, c in each_container():
        assert c["image"] == "telebill", f"{doc}: the kustomization's `images` names `telebill`"
        words = [str(a) for a in c["args"]]
        command: Any = root
        while isinstance(command, TyperGroup):
            assert words, f"{doc}: `telebill {' '.join(c['args'])}` is a group, not a command"
            sub = command.commands.get(words[0])
            assert sub is not None, f"{doc}: `telebill {' '.join(c['args'])}`: no {words[0]!r}"
            command, words = sub, words[1:]
        try:
            command.make_context(command.name or "", words)
        except TyperException as exc:  # an option it does not take, a value it refuses
            pytest.fail(f"{doc}: `telebill {' '.join(c['args'])}`: {exc}", pytrace=False)


def test_the_workers_take_every_task_queue() -> None:
    workers = [d for d in of_kind("Deployment") if command_of(d)[0] == "worker"]
    taken: list[WorkQueue] = []
    for doc in workers:
        args = command_of(doc)
        assert "--queues" in args, f"{doc}: one Deployment per queue (`--queues <queue>`)"
        taken += parse_queues(args[args.index("--queues") + 1])
    assert sorted(taken) == sorted(WorkQueue), f"queues taken: {taken}"


def test_every_consumer_kind_has_a_deployment_of_one_process_per_pod() -> None:
    kinds = consumer_kinds()
    assert {"email", "sms", "dlq"} <= set(kinds)
    for kind in kinds:
        doc = consumer_deployment(kind)
        assert command_of(doc) == ["consume", kind], f"{doc}: one process, KEDA scales the pods"
        assert "replicas" not in doc.body["spec"], f"{doc}: its ScaledObject owns the replicas"
    consuming = [d for d in of_kind("Deployment") if command_of(d)[0] == "consume"]
    assert len(consuming) == len(kinds), [str(d) for d in consuming]


def test_each_consumer_scales_on_its_own_groups_lag(settings_of: SettingsOf) -> None:
    scaled = {d.body["spec"]["scaleTargetRef"]["name"]: d for d in of_kind("ScaledObject")}
    auth = {d.name for d in of_kind("TriggerAuthentication")}
    for kind in consumer_kinds():
        deployment = consumer_deployment(kind)
        assert deployment.name in scaled, f"{deployment}: no ScaledObject scales it"
        so = scaled[deployment.name].body["spec"]
        (c,) = pod_spec(deployment)["containers"]
        s = settings_of(c)
        topics = Topics(s.topic_prefix)
        (trigger,) = so["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == group_id(s, kind), kind
        assert meta["topic"] == (topics.dlq if kind == "dlq" else topics.channel(kind)), kind
        assert 1 <= so["minReplicaCount"] <= so["maxReplicaCount"] <= s.kafka_partitions, kind
        assert meta["allowIdleConsumers"] == "false", "never more pods than partitions"
        # the brokers from the pod's own setting, so KEDA reads the Kafka the pod reads
        assert environment(c).get(meta["bootstrapServersFromEnv"]) == s.kafka_servers, kind
        # signed in as the consumers sign in
        tls = s.kafka_security_protocol in ("SSL", "SASL_SSL")
        assert meta.get("tls", "disable") == ("enable" if tls else "disable"), kind
        sasl = {"SCRAM-SHA-512": "scram_sha512", "SCRAM-SHA-256": "scram_sha256"}
        if s.kafka_security_protocol.startswith("SASL"):
            assert meta.get("sasl") == sasl.get(s.kafka_sasl_mechanism, "plaintext"), kind
            assert trigger["authenticationRef"]["name"] in auth, kind
        else:
            assert meta.get("sasl", "none") == "none", kind
    for target, so in scaled.items():
        ref = so.body["spec"]["scaleTargetRef"]
        assert ref.get("kind", "Deployment") == "Deployment", str(so)
        one("Deployment", target)


def test_the_lag_threshold_is_the_one_the_operations_guide_gives() -> None:
    """docs/operations.md's KEDA example and these manifests say the same figure."""
    guide = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    documented = re.search(r'lagThreshold: "(\d+)"', guide)
    assert documented is not None
    for so in of_kind("ScaledObject"):
        (trigger,) = so.body["spec"]["triggers"]
        assert trigger["metadata"]["lagThreshold"] == documented.group(1), str(so)


def test_the_migration_and_the_schedules_have_their_jobs() -> None:
    commands = {tuple(command_of(d)): d for d in of_kind("Job")}
    assert ("db", "migrate") in commands
    assert ("schedules", "install") in commands


# ---- settings and Secrets -----------------------------------------------------------------


def test_every_variable_given_is_a_setting_of_telebill() -> None:
    known = setting_names()
    unknown = sorted(set(config_map()) - known)
    assert not unknown, f"config.yaml: not a setting of telebill/settings: {unknown}"
    for doc, c in each_container():
        unknown = sorted({e["name"] for e in c.get("env", [])} - known)
        assert not unknown, f"{doc}: not a setting of telebill/settings: {unknown}"


def test_secrets_come_only_from_secrets() -> None:
    secret = secret_settings()
    in_config = sorted(secret & set(config_map()))
    assert not in_config, f"config.yaml holds secrets: {in_config}"
    for doc, c in each_container():
        plain = {e["name"] for e in c.get("env", []) if e["name"] not in secret_refs(c)}
        assert not secret & plain, f"{doc}: a secret as a value: {sorted(secret & plain)}"


def test_each_process_connects_as_its_own_role_and_only_the_migration_as_the_owner(
    settings_of: SettingsOf,
) -> None:
    for doc, c in each_container():
        refs = secret_refs(c)
        role = ROLE_OF.get(component(doc))
        if role is None:
            assert not {n for n in refs if "DATABASE_URL" in n}, f"{doc}: needs no database"
            continue
        s = settings_of(c)
        url = s.db_url_for(role)
        # the URL it connects with is its role's own Secret, not the local stack's default
        given = [
            n
            for n, (secret, key) in refs.items()
            if "DATABASE_URL" in n and placeholder(secret, key, n).partition("://")[2] in url
        ]
        assert given, f"{doc}: connects as {role.login} with no URL of its own ({url})"
        if role is not DbRole.OWNER:
            assert "DATABASE_URL" not in refs, f"{doc}: holds the owner's URL"


def test_the_settings_each_container_reads_hold_together(
    settings_of: SettingsOf, stack_dir: Path
) -> None:
    for doc, c in each_container():
        s = settings_of(c)  # a setting refused (a value out of range, a pair half given) fails
        if component(doc) in LINK_PROCESSES and command_of(doc) != ["consume", "dlq"]:
            # the public page's https address and a key of its own, never the stack's file
            assert s.web_url == config_map()["TELEBILL_WEB_BASE_URL"], str(doc)
            assert "TELEBILL_WEB_LINK_KEY" in secret_refs(c), f"{doc}: signs links without a key"
            assert s.bill_link_key(), str(doc)
        if (role := ROLE_OF.get(component(doc))) is not None:
            s.db_url_for(role)
    # the links' key and the database URLs given, nothing is generated into the stack's folder
    assert not stack_dir.exists(), f"written into TELEBILL_STACK_DIR: {list(stack_dir.rglob('*'))}"


def test_readme_names_every_secret_and_key_the_operator_creates() -> None:
    readme = (HERE / "README.md").read_text()
    wanted: set[tuple[str, str | None]] = set()
    for _, c in each_container():
        wanted |= set(secret_refs(c).values())
    for doc in pods():
        for v in pod_spec(doc).get("volumes", []):
            if "secret" in v:
                wanted.add((v["secret"]["secretName"], None))
    for doc in of_kind("TriggerAuthentication"):
        wanted |= {(r["name"], r["key"]) for r in doc.body["spec"]["secretTargetRef"]}
    for doc in of_kind("Ingress"):
        wanted |= {(t["secretName"], None) for t in doc.body["spec"]["tls"]}
    for secret, key in sorted(wanted, key=str):
        assert f"`{secret}`" in readme, f"README.md does not say to create the Secret {secret}"
        if key is not None:
            paragraphs = readme.split("\n\n")
            assert any(f"`{secret}`" in p and f"`{key}`" in p for p in paragraphs), (
                f"README.md does not name the key {key} beside the Secret {secret}"
            )


# ---- pods ---------------------------------------------------------------------------------


def test_every_probe_and_scrape_port_is_a_port_of_its_container(settings_of: SettingsOf) -> None:
    for doc, c in each_container():
        probes = [c[p] for p in ("startupProbe", "livenessProbe", "readinessProbe") if p in c]
        if doc.kind == "Deployment":
            assert "livenessProbe" in c and "startupProbe" in c, f"{doc}: no probes"
        declared = {p["containerPort"] for p in c.get("ports", [])}
        for probe in probes:
            assert port_number(probe["httpGet"]["port"], c) in declared, str(doc)
        s = settings_of(c)
        if component(doc) in ("worker", "consumer"):
            # the probe server's port (telebill/probe_server.py), open to the pod's network
            assert port_number("metrics", c) == s.metrics_port, str(doc)
            assert s.metrics_host == "0.0.0.0", str(doc)
            assert {p["httpGet"]["path"] for p in probes} == {"/healthz"}, str(doc)
            notes = doc.body["spec"]["template"]["metadata"]["annotations"]
            assert notes["prometheus.io/scrape"] == "true", str(doc)
            assert int(notes["prometheus.io/port"]) == s.metrics_port, str(doc)
        if command_of(doc)[0] == "worker":  # the Temporal SDK's (workers/temporal_worker.py)
            assert s.metrics_port is not None, str(doc)
            sdk = s.sdk_metrics_port or s.metrics_port + 1
            assert port_number("sdk-metrics", c) == sdk, str(doc)
        if component(doc) == "api":
            assert port_number("http", c) == s.api_port, str(doc)
            assert {p["httpGet"]["path"] for p in probes} == {"/api/health"}, str(doc)
        if component(doc) == "web":
            assert port_number("http", c) == s.web_port, str(doc)
            assert {p["httpGet"]["path"] for p in probes} == {"/healthz"}, str(doc)


def test_a_stopping_pod_is_given_longer_than_the_process_takes(settings_of: SettingsOf) -> None:
    for doc in of_kind("Deployment"):
        (c,) = pod_spec(doc)["containers"]
        grace = pod_spec(doc)["terminationGracePeriodSeconds"]
        assert grace > settings_of(c).shutdown_timeout_s, str(doc)


def test_no_service_link_variable_lands_on_a_setting() -> None:
    """Kubernetes gives every pod <SERVICE>_PORT=tcp://… of each Service in its namespace:
    `telebill-api` would set TELEBILL_API_PORT to that, which no process can read as a port."""
    injected = set()
    for svc in of_kind("Service"):
        name = svc.name.upper().replace("-", "_")
        injected |= {f"{name}_SERVICE_HOST", f"{name}_SERVICE_PORT", f"{name}_PORT"}
    if injected & setting_names():
        for doc in pods():
            assert pod_spec(doc).get("enableServiceLinks") is False, (
                f"{doc}: enableServiceLinks would set {sorted(injected & setting_names())}"
            )


def quantity(text: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?", str(text))
    assert match is not None, text
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


def test_every_container_is_locked_down_and_sized() -> None:
    for doc, c in each_container():
        pod = pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True, str(doc)
        # the image's USER is `nobody` by name: runAsNonRoot can check only a number
        assert pod["securityContext"]["runAsUser"] > 0, str(doc)
        assert pod["automountServiceAccountToken"] is False, str(doc)
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, str(doc)
        assert sc["readOnlyRootFilesystem"] is True, str(doc)
        assert sc["capabilities"]["drop"] == ["ALL"], str(doc)
        r = c["resources"]
        for what in ("cpu", "memory"):
            assert quantity(r["requests"][what]) <= quantity(r["limits"][what]), str(doc)


def test_every_place_a_process_writes_is_a_volume(settings_of: SettingsOf) -> None:
    """The root filesystem is read-only: /tmp (the pricing pool's forkserver, temporary files)
    and the retention's archives (on the settlement queue, and the notification queue that
    hosts every activity) are mounts; nothing goes to TELEBILL_STACK_DIR (the links' key and
    the database URLs are given)."""
    volumes_of = {d: {v["name"]: v for v in pod_spec(d).get("volumes", [])} for d in pods()}
    for doc, c in each_container():
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{doc}: /tmp is not writable"
        args = command_of(doc)
        if args[0] == "worker":
            queues = set(parse_queues(args[args.index("--queues") + 1]))
            if queues & {WorkQueue.SETTLEMENT, WorkQueue.NOTIFICATION}:
                archive = str(settings_of(c).archive_dir)
                assert archive in mounts, f"{doc}: the archives ({archive}) are not a volume"
                volume = volumes_of[doc][mounts[archive]]
                claim = volume["persistentVolumeClaim"]["claimName"]
                pvc = one("PersistentVolumeClaim", claim).body["spec"]
                assert "ReadWriteMany" in pvc["accessModes"], "pods of several queues write it"


def test_the_api_runs_one_process() -> None:
    """Its per-user limits are in its memory (telebill/api/security.py SendLimiter)."""
    (api,) = [d for d in of_kind("Deployment") if command_of(d)[:2] == ["api", "serve"]]
    assert api.body["spec"]["replicas"] == 1


# ---- reaching the pods --------------------------------------------------------------------


def test_services_and_ingresses_reach_the_api_and_the_bill_page() -> None:
    for svc in of_kind("Service"):
        selector = {"matchLabels": svc.body["spec"]["selector"]}
        targets = [d for d in of_kind("Deployment") if selects(selector, pod_labels(d))]
        assert len(targets) == 1, f"{svc}: selects {[str(t) for t in targets]}"
        (c,) = pod_spec(targets[0])["containers"]
        for port in svc.body["spec"]["ports"]:
            port_number(port["targetPort"], c)
    for ingress in of_kind("Ingress"):
        spec = ingress.body["spec"]
        assert spec["ingressClassName"] == "nginx", str(ingress)
        tls_hosts = {h for t in spec["tls"] for h in t["hosts"]}
        for rule in spec["rules"]:
            assert rule["host"] in tls_hosts, f"{ingress}: {rule['host']} without TLS"
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc = one("Service", backend["name"])
                names = {p.get("name") for p in svc.body["spec"]["ports"]}
                assert backend["port"]["name"] in names, str(ingress)
    web_host = urlsplit(config_map()["TELEBILL_WEB_BASE_URL"]).hostname
    page = [i for i in of_kind("Ingress") for r in i.body["spec"]["rules"] if r["host"] == web_host]
    assert page, f"no Ingress serves the links' host {web_host}"


def test_network_policies_let_each_pod_reach_what_it_uses_and_no_more() -> None:
    for p in of_kind("NetworkPolicy"):
        selected = [d for d in pods() if selects(p.body["spec"]["podSelector"], pod_labels(d))]
        assert selected, f"{p}: selects no pod (a label misspelt?)"
    default = [
        p
        for p in of_kind("NetworkPolicy")
        if p.body["spec"]["podSelector"] == {}
        and set(p.body["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p.body["spec"].get("ingress")
        and not p.body["spec"].get("egress")
    ]
    assert default, "no default deny: a pod not named below could reach anything"
    config = config_map()
    kafka = {host_port(a) for a in config["KAFKA_BOOTSTRAP_SERVERS"].split(",")}
    temporal = host_port(config["TEMPORAL_ADDRESS"])
    for doc in pods():
        (c,) = pod_spec(doc)["containers"]
        ports = egress_ports(doc)
        refs = secret_refs(c)
        assert DNS_PORT in ports, f"{doc}: cannot resolve names"
        if any("DATABASE_URL" in n for n in refs):
            assert POSTGRESQL_PORT in ports, f"{doc}: cannot reach PostgreSQL"
        else:
            assert POSTGRESQL_PORT not in ports, f"{doc}: reaches PostgreSQL it has no URL for"
        if "TELEBILL_KAFKA_PASSWORD" in refs:
            assert kafka <= ports, f"{doc}: cannot reach Kafka at {kafka}"
        else:
            assert not kafka & ports, f"{doc}: reaches Kafka it has no login for"
        calls_temporal = any(
            m["mountPath"] == "/etc/telebill/temporal-tls" for m in c.get("volumeMounts", [])
        )
        assert (temporal in ports) == calls_temporal, f"{doc}: Temporal {temporal}"
        if component(doc) in ("api", "web"):
            rules = [r for spec in policies_for(doc, "Ingress") for r in spec.get("ingress", [])]
            assert rules, f"{doc}: nothing may reach it"
            for rule in rules:
                for peer in rule["from"]:
                    space = peer["namespaceSelector"]["matchLabels"]
                    assert space == {"kubernetes.io/metadata.name": "ingress-nginx"}, str(doc)
                    assert "ipBlock" not in peer
                served = {port_number(p["port"], c) for p in rule["ports"]}
                assert served == {port_number("http", c)}, str(doc)
    for p in of_kind("NetworkPolicy"):
        for rule in p.body["spec"].get("egress", []):
            for peer in rule.get("to", []):
                if "ipBlock" in peer:
                    net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                    assert net.prefixlen > 0, f"{p}: egress to everywhere"
