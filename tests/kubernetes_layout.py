"""deploy/kubernetes read for its tests: the Kustomize layout's documents, their pods,
containers, environment and network policies, and the settings they are held to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer.main
import yaml
from typer.core import TyperGroup

from starters.consume_cmd import app as consume_cli
from telebill.config import PROJECT_ROOT, Settings
from telebill.domain.db_roles import DbRole

HERE = PROJECT_ROOT / "deploy" / "kubernetes"
SCHEMAS = HERE / "schemas"
# The Kubernetes version the documents are held to (kubernetes-validate bundles 1.x schemas up
# to its own version; an older cluster than this may lack a field used here).
KUBERNETES_VERSION = "1.33.0"
# KEDA's CRDs, each the openAPIV3Schema of its v1alpha1 version (README.md: version and source).
CRD_SCHEMAS = {
    "ScaledObject": SCHEMAS / "keda-scaledobject.json",
    "TriggerAuthentication": SCHEMAS / "keda-triggerauthentication.json",
}
POD_OWNERS = ("Deployment", "Job")
POSTGRESQL_PORT = 5432  # the database URLs are Secrets: their port is PostgreSQL's own
DNS_PORT = 53
# The processes that sign or check the bills' links (TELEBILL_WEB_LINK_KEY): the channel
# consumers (workers/delivery_consumer.py), the API's previews, the page itself.
LINK_PROCESSES = ("consumer", "api", "web")
# What each kind of process connects to PostgreSQL as (telebill/service/bootstrap.py); the
# page reads as the API's role.
ROLE_OF = {
    "migrate": DbRole.OWNER,
    "worker": DbRole.WORKER,
    "consumer": DbRole.CONSUMER,
    "api": DbRole.API,
    "web": DbRole.API,
}


# ---- reading the layout ------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    data = yaml.safe_load((HERE / "kustomization.yaml").read_text())
    assert isinstance(data, dict)
    return data


def manifest_files() -> list[Path]:
    """Every YAML file of the layout but the kustomization and the vendored schemas."""
    return sorted(
        p
        for p in HERE.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.name != "kustomization.yaml"
        and SCHEMAS not in p.parents
    )


@dataclass(frozen=True, eq=False)  # by identity: a document is itself
class Doc:
    path: Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.path.name}: {self.kind}/{self.name}"


@cache
def documents() -> tuple[Doc, ...]:
    docs = []
    for entry in kustomization()["resources"]:
        for body in yaml.safe_load_all((HERE / entry).read_text()):
            if body is not None:
                docs.append(Doc(HERE / entry, body))
    return tuple(docs)


def of_kind(kind: str) -> list[Doc]:
    return [d for d in documents() if d.kind == kind]


def one(kind: str, name: str) -> Doc:
    found = [d for d in of_kind(kind) if d.name == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(doc: Doc) -> dict[str, Any]:
    spec: dict[str, Any] = doc.body["spec"]["template"]["spec"]
    return spec


def pod_labels(doc: Doc) -> dict[str, str]:
    labels: dict[str, str] = doc.body["spec"]["template"]["metadata"]["labels"]
    return labels


def component(doc: Doc) -> str:
    return pod_labels(doc)["app.kubernetes.io/component"]


def pods() -> list[Doc]:
    return [d for d in documents() if d.kind in POD_OWNERS]


def containers(doc: Doc) -> list[dict[str, Any]]:
    spec = pod_spec(doc)
    found: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return found


def each_container() -> Iterator[tuple[Doc, dict[str, Any]]]:
    for doc in pods():
        for c in containers(doc):
            yield doc, c


def command_of(doc: Doc) -> list[str]:
    """The `telebill …` words of a pod's one container (the image's ENTRYPOINT is telebill)."""
    (c,) = pod_spec(doc)["containers"]
    assert "command" not in c, f"{doc}: the entrypoint is the image's `telebill`"
    return [str(a) for a in c["args"]]


def config_map() -> dict[str, str]:
    data = one("ConfigMap", "telebill-config").body["data"]
    assert all(isinstance(v, str) for v in data.values())
    return dict(data)


def config_maps_of(c: dict[str, Any]) -> list[str]:
    return [s["configMapRef"]["name"] for s in c.get("envFrom", []) if "configMapRef" in s]


def secret_refs(c: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Env name → (Secret, key) of a container's secretKeyRefs."""
    return {
        e["name"]: (ref["name"], ref["key"])
        for e in c.get("env", [])
        if (ref := e.get("valueFrom", {}).get("secretKeyRef"))
    }


def placeholder(secret: str, key: str, name: str) -> str:
    """A value that passes the setting's checks where the Secret would give the real one."""
    if "DATABASE_URL" in name:
        return f"postgresql://{key}:pw@db.example.internal:{POSTGRESQL_PORT}/telebill"
    return f"{secret}/{key}/" + "x" * 32


def environment(c: dict[str, Any]) -> dict[str, str]:
    """What a container's process finds in its environment: the ConfigMaps it takes whole, then
    its own variables (which win), the Secrets' as placeholders."""
    env: dict[str, str] = {}
    for name in config_maps_of(c):
        assert name == "telebill-config", name
        env |= config_map()
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        elif ref := e["valueFrom"].get("secretKeyRef"):
            env[e["name"]] = placeholder(ref["name"], ref["key"], e["name"])
        elif ref := e["valueFrom"].get("configMapKeyRef"):
            env[e["name"]] = one("ConfigMap", ref["name"]).body["data"][ref["key"]]
    return env


SettingsOf = Callable[[dict[str, Any]], Settings]


def consumer_kinds() -> list[str]:
    """`telebill consume <kind>`: every kind the CLI offers (a channel module each, and dlq)."""
    group = typer.main.get_command(consume_cli)
    assert isinstance(group, TyperGroup)
    return sorted(group.commands)


def consumer_deployment(kind: str) -> Doc:
    found = [d for d in of_kind("Deployment") if command_of(d)[:2] == ["consume", kind]]
    assert len(found) == 1, f"`telebill consume {kind}`: {len(found)} Deployments run it"
    return found[0]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def policies_for(doc: Doc, policy_type: str) -> list[dict[str, Any]]:
    return [
        p.body["spec"]
        for p in of_kind("NetworkPolicy")
        if policy_type in p.body["spec"]["policyTypes"]
        and selects(p.body["spec"]["podSelector"], pod_labels(doc))
    ]


def port_number(port: int | str, c: dict[str, Any]) -> int:
    """A port as a number: itself, or the container's port of that name."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
    assert port in named, f"port {port!r}: the container has {sorted(named)}"
    return int(named[port])


def egress_ports(doc: Doc) -> set[int]:
    (c,) = pod_spec(doc)["containers"]
    return {
        port_number(p["port"], c)
        for spec in policies_for(doc, "Egress")
        for rule in spec.get("egress", [])
        for p in rule.get("ports", [])
    }


def host_port(address: str) -> int:
    port = urlsplit(f"//{address}").port
    assert port is not None, f"{address}: no port"
    return port
