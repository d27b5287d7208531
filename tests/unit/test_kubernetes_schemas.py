"""deploy/kubernetes, the Kustomize layout of a production installation, checked offline
against the schemas: every document against Kubernetes' own (kubernetes-validate's, strict: an
unknown field fails) or KEDA's CRD schemas vendored beside it, and `kubectl kustomize`
rendering it. What the schemas cannot see is held to the code in
test_kubernetes_against_code.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from telebill.config import PROJECT_ROOT
from tests.kubernetes_layout import (
    CRD_SCHEMAS,
    HERE,
    KUBERNETES_VERSION,
    POD_OWNERS,
    documents,
    kustomization,
    manifest_files,
)

# ---- the layout ---------------------------------------------------------------------------


def test_kustomization_lists_every_file_and_each_one_exists() -> None:
    listed = kustomization()["resources"]
    assert len(listed) == len(set(listed)), "a file listed twice"
    missing = [entry for entry in listed if not (HERE / entry).is_file()]
    assert not missing, f"listed in kustomization.yaml and missing: {missing}"
    unlisted = [
        str(p.relative_to(HERE)) for p in manifest_files() if str(p.relative_to(HERE)) not in listed
    ]
    assert not unlisted, f"not in kustomization.yaml's resources (never applied): {unlisted}"


def test_every_document_is_valid_against_kubernetes_own_schemas() -> None:
    problems = []
    for doc in documents():
        if doc.body["apiVersion"].startswith("keda.sh/"):
            continue  # KEDA's CRDs: below
        try:
            kubernetes_validate.validate(doc.body, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            problems.append(f"{doc}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{doc}: {exc.message}")
    assert not problems, "\n".join(problems)


def strict(schema: Any) -> Any:
    """A CRD schema as the API server reads an object with strict field validation: a field it
    does not declare is an error (a structural schema would prune it without a word)."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def test_keda_objects_are_valid_against_the_vendored_crd_schemas() -> None:
    keda = [d for d in documents() if d.body["apiVersion"].startswith("keda.sh/")]
    assert {d.kind for d in keda} <= set(CRD_SCHEMAS), [str(d) for d in keda]
    problems = []
    for doc in keda:
        assert doc.body["apiVersion"] == "keda.sh/v1alpha1", str(doc)
        schema = strict(json.loads(CRD_SCHEMAS[doc.kind].read_text()))
        validator = jsonschema.Draft7Validator(schema)
        problems += [
            f"{doc}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in validator.iter_errors(doc.body)
        ]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc.name), str(doc)
    assert not problems, "\n".join(problems)


def renderer() -> list[str]:
    """kubectl's own kustomize, or the one `make deps` builds where kubectl is missing."""
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    built = PROJECT_ROOT / ".tools" / "kustomize"
    if built.exists():
        return [str(built), "build"]
    pytest.fail(
        "neither kubectl nor .tools/kustomize: `make deps` builds kustomize from the Go module "
        "proxy (Go needed), or install kubectl 1.27 or later",
        pytrace=False,
    )


def test_kustomize_renders_the_layout() -> None:
    done = subprocess.run([*renderer(), str(HERE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted(
        (d.kind, d.name) for d in documents()
    )
    namespace = kustomization()["namespace"]
    for d in rendered:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == namespace, d["metadata"]["name"]
    image = kustomization()["images"][0]
    for d in rendered:
        if d["kind"] in POD_OWNERS:
            for c in d["spec"]["template"]["spec"]["containers"]:
                assert c["image"] == f"{image['newName']}:{image['newTag']}", c["image"]


# ---- the processes ------------------------------------------------------------------------
