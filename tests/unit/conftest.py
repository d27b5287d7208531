"""The unit tests the fast tier (`make test-fast`, `-m "not slow"`) leaves out, each with its
reason: together they took 100 s of the unit tests' 146 s on 2026-12-03 (a 2-CPU machine beside
a benchmark). `make test` runs them all."""

from __future__ import annotations

import pytest

SLOW: dict[str, str] = {
    # 60 commands, each `telebill <command> --help` in a process of its own (1.2 s of Python
    # start-up each: 70 s); the in-process CLI tests stay in the fast tier
    "test_cli.py::test_every_command_has_help": "a process per command",
    # Prometheus's promtool evaluating the alert rules over simulated hours (18 s)
    "test_deploy_monitoring.py::test_the_alert_rules_fire_when_they_should_and_not_before": (
        "promtool"
    ),
    # Hypothesis writing templates from a grammar, each rendered in a helper process (11 s)
    "test_hunt_templates.py::test_any_template_the_grammar_writes_renders_within_bounds_or_is_refused": (  # noqa: E501
        "a hunt"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.nodeid.rpartition("tests/unit/")[2].split("[")[0]
        if name in SLOW:
            item.add_marker(pytest.mark.slow(reason=SLOW[name]))
