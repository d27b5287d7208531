"""The monitoring files of deploy/: they parse, and every metric they name is one Telebill
exposes (a renamed metric would leave an alert that never fires)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import telebill.metrics  # noqa: F401 - defines the metrics in the default registry
from telebill.config import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
SCRAPE = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "telebill-dashboard.json"
DURATION = re.compile(r"^\d+[smhd]$")


def exposed_names() -> set[str]:
    """Every series name the registry can expose (counters' _total, histograms' _bucket…)."""
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "histogram":
            names.update(f"{family.name}_{x}" for x in ("bucket", "sum", "count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def telebill_names(expr: str) -> set[str]:
    return set(re.findall(r"\btelebill_[a-z_]+\b", expr))


def rules() -> list[dict[str, object]]:
    return [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]


def test_alert_rules_are_well_formed() -> None:
    found = rules()
    assert {r["alert"] for r in found} >= {
        "TelebillConsumerLagGrowing",
        "TelebillNotificationsStuck",
        "TelebillDeadLettersRising",
        "TelebillEmailConsumerMissing",
        "TelebillDailyDispatchMissing",
        "TelebillDailyDispatchPaused",
        "TelebillDailyDispatchFailed",
        "TelebillDailyDispatchLate",
        "TelebillMonthlySettlementMissing",
        "TelebillMonthlySettlementPaused",
        "TelebillMonthlySettlementFailed",
        "TelebillBillsOverdue",
        "TelebillOverdueBillOld",
    }
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["expr"], str) and rule["expr"].strip()
        assert DURATION.match(str(rule.get("for", "0m"))), rule
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and labels["severity"] in {"warning", "critical"}
        assert isinstance(notes, dict) and notes["summary"]


def test_every_metric_named_in_alerts_and_dashboard_is_exposed() -> None:
    exposed = exposed_names()
    exprs = [str(r["expr"]) for r in rules()]
    dashboard = json.loads(DASHBOARD.read_text())
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = set().union(*(telebill_names(e) for e in exprs))
    assert len(named) >= 8
    assert named <= exposed, sorted(named - exposed)


def test_the_scrape_config_loads_the_rules_and_has_the_jobs_they_name() -> None:
    config = yaml.safe_load(SCRAPE.read_text())
    assert [(SCRAPE.parent / f).exists() for f in config["rule_files"]] == [True]
    jobs = {c["job_name"] for c in config["scrape_configs"]}
    named = set(re.findall(r'job="([^"]+)"', ALERTS.read_text()))
    assert named and named <= jobs


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules_and_config() -> None:
    for args in (["check", "rules", str(ALERTS)], ["check", "config", str(SCRAPE)]):
        done = subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_alert_rules_fire_when_they_should_and_not_before() -> None:
    """promtool's unit tests of the rules (deploy/prometheus/alerts_test.yml): the daily
    dispatch missing, paused, failed, late, and bills overdue, each at its threshold."""
    done = subprocess.run(
        ["promtool", "test", "rules", str(ALERTS_TEST)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_dashboard_uses_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert all(p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])
    assert Path(DASHBOARD).read_text().endswith("\n")
